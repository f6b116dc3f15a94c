"""DeLong's test for the difference of two correlated ROC AUCs (two scores of the same events).

DeLong, DeLong & Clarke-Pearson (1988) estimate the covariance of the two Mann-Whitney AUCs from
each event's *placement*: for a positive with score ``x``, the share of negatives it beats
(ties count 1/2); for a negative with score ``y``, the share of positives that beat it. With
``m`` positives and ``n`` negatives, per score ``r``:

    V10_r[i] = (1/n) Σ_j ψ(x_ri, y_rj)      V01_r[j] = (1/m) Σ_i ψ(x_ri, y_rj)
    AUC_r = mean(V10_r) = mean(V01_r),      ψ(x, y) = 1 if x > y, 1/2 if x = y, else 0
    S = cov(V10) / m + cov(V01) / n         (sample covariances, denominators m - 1 and n - 1)
    Var(AUC_b - AUC_a) = S_aa + S_bb - 2 S_ab

The placements are computed from midranks in O((m + n) log(m + n)) (Sun & Xu 2014, "Fast
implementation of DeLong's algorithm for comparing the areas under correlated receiver operating
characteristic curves", IEEE Signal Processing Letters 21(11)): with ``T_z`` the midranks of a
score over all events, ``T_x`` over the positives alone and ``T_y`` over the negatives alone,

    V10[i] = (T_z[i] - T_x[i]) / n          V01[j] = 1 - (T_z[m + j] - T_y[j]) / m

The confidence interval is the normal one, ``diff ± z_(1-α/2) · sqrt(Var)``; the p-value is the
two-sided one of ``z = diff / sqrt(Var)`` (H0: equal AUCs).

By hand, for 3 positives and 2 negatives: a's placements are V10 = (1, 1, 1/2) and
V01 = (2/3, 1), b separates the classes (all placements 1, no variance), so
Var = (1/12) / 3 + (1/18) / 2 = 1/18, z = (1/6) / sqrt(1/18) = 1/sqrt(2), p = erfc(1/2):

>>> import numpy as np
>>> y = np.array([1, 1, 1, 0, 0])
>>> r = delong(y, np.array([0.9, 0.6, 0.4, 0.5, 0.1]), np.array([0.8, 0.7, 0.6, 0.3, 0.2]))
>>> r.auc_a, r.auc_b, round(r.diff, 12), round(r.variance, 12), round(r.z, 12)
(0.8333333333333334, 1.0, 0.166666666667, 0.055555555556, 0.707106781187)
>>> round(r.p_value, 6) == round(math.erfc(0.5), 6)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, ties sharing the mean of their ranks (O(n log n)).

    >>> midranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    # start of each run of equal values in sorted order
    starts = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])
    ends = np.r_[starts[1:], n]  # exclusive
    mid = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(mid, ends - starts)
    return ranks


def placements(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placements ``(V10 over the positives, V01 over the negatives)`` of each score row.

    `scores` is ``(k, N)``: k scores of the same N events; `y` > 0 marks the positives. Returns
    arrays of shape ``(k, m)`` and ``(k, n)``. Their means are the k AUCs.
    """
    pos = np.asarray(y) > 0
    x, z = scores[:, pos], scores[:, ~pos]
    m, n = x.shape[1], z.shape[1]
    k = scores.shape[0]
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    for r in range(k):
        tx, ty = midranks(x[r]), midranks(z[r])
        tz = midranks(np.concatenate([x[r], z[r]]))
        v10[r] = (tz[:m] - tx) / n
        v01[r] = 1.0 - (tz[m:] - ty) / m
    return v10, v01


def delong_covariance(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(AUCs (k,), their covariance (k, k))`` of the k score rows on the same events."""
    v10, v01 = placements(y, scores)
    m, n = v10.shape[1], v01.shape[1]
    aucs = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return aucs, s10 / m + s01 / n


@dataclass(frozen=True)
class DeLong:
    """AUCs of scores a and b on the same events, b - a, its DeLong variance, CI and p-value."""

    auc_a: float
    auc_b: float
    diff: float
    variance: float
    low: float
    high: float
    z: float
    p_value: float

    @property
    def se(self) -> float:
        return math.sqrt(self.variance) if self.variance >= 0 else float("nan")


def delong(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, level: float = 0.95) -> DeLong:
    """DeLong's paired comparison of ``AUC(pb) - AUC(pa)`` (see the module doc).

    NaN everywhere when a class has fewer than 2 events (no variance can be estimated). When
    the variance is 0 (e.g. identical scores) the interval is the point and ``p`` is 1 for a
    zero difference, 0 otherwise. The interval is clipped to what ``b - a`` can be with ``a``
    given (``[-a, 1 - a]``): the normal approximation overshoots on few events.

    >>> r = delong([1, 1, 0, 0, 1, 0], [.9, .2, .3, .1, .6, .7], [.2, .9, .1, .3, .8, .4])
    >>> r.high <= 1 - r.auc_a and r.low >= -r.auc_a
    True
    """
    y = np.asarray(y)
    pos = int((y > 0).sum())
    if pos < 2 or len(y) - pos < 2:
        nan = float("nan")
        return DeLong(nan, nan, nan, nan, nan, nan, nan, nan)
    aucs, cov = delong_covariance(y, np.vstack([np.asarray(pa, np.float64), np.asarray(pb, np.float64)]))
    a, b = float(aucs[0]), float(aucs[1])
    diff = b - a
    var = max(float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]), 0.0)  # rounding can dip below 0
    if var == 0.0:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return DeLong(a, b, diff, var, diff, diff, z, 1.0 if diff == 0 else 0.0)
    se = math.sqrt(var)
    q = NormalDist().inv_cdf(0.5 + level / 2)
    z = diff / se
    return DeLong(a, b, diff, var, max(diff - q * se, -a), min(diff + q * se, 1.0 - a), z,
                  math.erfc(abs(z) / math.sqrt(2)))
