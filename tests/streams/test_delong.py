"""DeLong's AUC-difference test: the fast midrank version against a direct O(m·n) computation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.replay.compare import compare_arrays, roc_auc
from streams.replay.delong import delong, midranks, placements


# ------------------------------------------------------------------ slow references
def slow_delong(y, pa, pb) -> tuple[float, float, float]:
    """(AUC a, AUC b, Var(AUC b - AUC a)) straight from the definition: every (positive, negative)
    pair's kernel psi, placements as row/column means, sample covariances with m-1 and n-1."""
    pos = [i for i in range(len(y)) if y[i] > 0]
    neg = [j for j in range(len(y)) if y[j] <= 0]
    m, n = len(pos), len(neg)

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    v10 = [[sum(psi(p[i], p[j]) for j in neg) / n for i in pos] for p in (pa, pb)]
    v01 = [[sum(psi(p[i], p[j]) for i in pos) / m for j in neg] for p in (pa, pb)]

    def cov(u, v):
        mu, mv = sum(u) / len(u), sum(v) / len(v)
        return sum((a - mu) * (b - mv) for a, b in zip(u, v)) / (len(u) - 1)

    s = [[cov(v10[r], v10[c]) / m + cov(v01[r], v01[c]) / n for c in range(2)] for r in range(2)]
    return sum(v10[0]) / m, sum(v10[1]) / m, s[0][0] + s[1][1] - 2 * s[0][1]


def exact_variance(y, pa, pb) -> Fraction:
    """The same variance in exact rational arithmetic (scores compared as given)."""
    pos = [i for i in range(len(y)) if y[i] > 0]
    neg = [j for j in range(len(y)) if y[j] <= 0]
    m, n = len(pos), len(neg)

    def psi(x, z):
        return Fraction(1) if x > z else Fraction(1, 2) if x == z else Fraction(0)

    d10 = [sum(psi(pb[i], pb[j]) - psi(pa[i], pa[j]) for j in neg) / n for i in pos]
    d01 = [sum(psi(pb[i], pb[j]) - psi(pa[i], pa[j]) for i in pos) / m for j in neg]

    def var(u):
        mu = sum(u) / len(u)
        return sum((a - mu) ** 2 for a in u) / (len(u) - 1)

    return var(d10) / m + var(d01) / n


# ------------------------------------------------------------------ known values
def test_hand_computed_example():
    """3 positives, 2 negatives (the module doc's derivation): Var = 1/18, z = 1/sqrt(2)."""
    y = np.array([1, 1, 1, 0, 0])
    r = delong(y, np.array([0.9, 0.6, 0.4, 0.5, 0.1]), np.array([0.8, 0.7, 0.6, 0.3, 0.2]))
    assert (r.auc_a, r.auc_b) == (5 / 6, 1.0)
    assert r.variance == pytest.approx(1 / 18, abs=1e-15)
    assert r.z == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert r.p_value == pytest.approx(math.erfc(0.5), abs=1e-12)
    q = 1.959963984540054  # z_0.975
    # 1/6 + q/sqrt(18) = 0.63 is more than AUC_B - AUC_A can be (1 - 5/6): the interval is clipped
    assert (r.low, r.high) == pytest.approx((1 / 6 - q / math.sqrt(18), 1 / 6), abs=1e-12)


def test_equals_the_exact_rational_variance_on_small_data_with_ties():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 60)
    pa = np.round(rng.random(60), 1)  # many ties within and across classes
    pb = np.round(np.clip(pa + rng.normal(0, 0.2, 60) + 0.2 * y, 0, 1), 1)
    exact = exact_variance(y.tolist(), [Fraction(v).limit_denominator(10) for v in pa],
                           [Fraction(v).limit_denominator(10) for v in pb])
    assert delong(y, pa, pb).variance == pytest.approx(float(exact), rel=1e-12, abs=1e-15)


def test_midranks_average_tied_ranks():
    assert midranks(np.array([2.0, 2.0, 2.0])).tolist() == [2.0, 2.0, 2.0]
    assert midranks(np.array([5.0, 1.0, 5.0, 3.0, 1.0])).tolist() == [4.5, 1.5, 4.5, 3.0, 1.5]


def test_placement_means_are_the_mann_whitney_auc():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 2)
    v10, v01 = placements(y, p[None, :])
    assert v10.mean() == pytest.approx(roc_auc(y, p), abs=1e-12)
    assert v01.mean() == pytest.approx(roc_auc(y, p), abs=1e-12)


# ------------------------------------------------------------------ properties
@settings(max_examples=120, deadline=None)
@given(st.data())
def test_fast_equals_the_direct_computation(data):
    n = data.draw(st.integers(4, 40))
    y = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 2 <= sum(v) <= len(v) - 2))
    pa = data.draw(st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]) | st.floats(0, 1), min_size=n, max_size=n))
    pb = data.draw(st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]) | st.floats(0, 1), min_size=n, max_size=n))
    r = delong(np.array(y), np.array(pa), np.array(pb))
    a, b, var = slow_delong(y, pa, pb)
    assert r.auc_a == pytest.approx(a, abs=1e-12) and r.auc_b == pytest.approx(b, abs=1e-12)
    assert r.variance == pytest.approx(max(var, 0.0), abs=1e-12)
    assert r.variance >= 0
    if r.variance > 0:
        assert r.low <= r.diff <= r.high and 0 <= r.p_value <= 1
        assert -r.auc_a <= r.low and r.high <= 1 - r.auc_a  # what AUC(b) - AUC(a) can be


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_swapping_the_runs_negates_the_difference_and_keeps_the_variance(data):
    n = data.draw(st.integers(4, 30))
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 2 <= sum(v) <= len(v) - 2)))
    normal = st.floats(0, 1, allow_subnormal=False)
    pa = np.array(data.draw(st.lists(normal, min_size=n, max_size=n)))
    pb = np.array(data.draw(st.lists(normal, min_size=n, max_size=n)))
    ab, ba = delong(y, pa, pb), delong(y, pb, pa)
    assert ab.diff == pytest.approx(-ba.diff, abs=1e-12)
    assert ab.variance == pytest.approx(ba.variance, abs=1e-12)
    assert ab.p_value == pytest.approx(ba.p_value, abs=1e-9)
    # AUCs and their covariance depend on ranks only: a strictly increasing map (exact in binary
    # floating point here, so no two scores merge) changes nothing
    moved = delong(y, pa / 2, pb * 4)
    assert moved.diff == pytest.approx(ab.diff, abs=1e-12) and moved.variance == pytest.approx(ab.variance, abs=1e-12)


def test_identical_scores_have_no_variance_and_p_one():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    r = delong(y, p, p)
    assert r.diff == 0 and r.variance == 0 and r.low == r.high == 0 and r.p_value == 1.0


def test_one_class_or_a_single_positive_gives_nan():
    assert math.isnan(delong(np.zeros(10), np.random.rand(10), np.random.rand(10)).variance)
    assert math.isnan(delong(np.r_[1, np.zeros(9)], np.random.rand(10), np.random.rand(10)).p_value)


def test_a_real_difference_is_detected_and_noise_is_not():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 3000)
    good = y * 0.5 + rng.random(3000)
    noise = rng.random(3000)
    better = delong(y, noise, good)
    assert better.low > 0.1 and better.p_value < 1e-6
    # two equally weak but different scores: the interval covers 0 (seeded, so not flaky)
    same = delong(y, y * 0.1 + rng.random(3000), y * 0.1 + rng.random(3000))
    assert same.low < 0 < same.high and same.p_value > 0.01


def test_compare_uses_delong_for_auc_and_the_bootstrap_for_the_rest():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 1000).astype(float)
    a, b = rng.random(1000), np.clip(y * 0.4 + rng.random(1000) * 0.6, 0, 1)
    rows = {r.metric: r for r in compare_arrays(y, a, b, n_boot=100, seed=3)}
    d = delong(y, a, b)
    assert rows["roc_auc"].method == "delong" and (rows["roc_auc"].low, rows["roc_auc"].high) == (d.low, d.high)
    assert rows["roc_auc"].p_value == d.p_value and rows["roc_auc"].diff == pytest.approx(d.diff, abs=1e-12)
    assert rows["accuracy"].method == rows["log_loss"].method == "bootstrap"
    assert math.isnan(rows["log_loss"].p_value)
