"""ModelMetrics agree with River's metrics (log loss, accuracy, MAE, RMSE exactly; AUC to binning)."""

from __future__ import annotations

import random

import pytest
from river import metrics

from learners.metrics import ModelMetrics
from learners.predict import Prediction


def _exact_auc(ys: list[bool], ps: list[float]) -> float:
    pos = [p for y, p in zip(ys, ps) if y]
    neg = sorted(p for y, p in zip(ys, ps) if not y)
    import bisect

    return sum(bisect.bisect_left(neg, a) + 0.5 * (bisect.bisect_right(neg, a) - bisect.bisect_left(neg, a))
               for a in pos) / (len(pos) * len(neg))


def test_binary_metrics_match_river():
    rng = random.Random(1)
    ours = ModelMetrics("binary", threshold=0.5)
    ll, acc = metrics.LogLoss(), metrics.Accuracy()
    ys, ps = [], []
    for _ in range(3000):
        y = rng.random() < 0.3
        p = min(1.0, max(0.0, rng.gauss(0.6 if y else 0.4, 0.2)))
        ours.update(y, Prediction(p))
        ll.update(y, p)
        acc.update(y, p >= 0.5)
        ys.append(y)
        ps.append(p)
    v = ours.values()
    assert v["log_loss"] == pytest.approx(ll.get(), rel=1e-9)
    assert v["accuracy"] == pytest.approx(acc.get(), rel=1e-12)
    assert v["roc_auc"] == pytest.approx(_exact_auc(ys, ps), abs=2e-3)


def test_regression_metrics_match_river():
    rng = random.Random(2)
    ours = ModelMetrics("regression")
    mae, rmse = metrics.MAE(), metrics.RMSE()
    for _ in range(500):
        y, p = rng.gauss(0, 3), rng.gauss(0, 3)
        ours.update(y, Prediction(p))
        mae.update(y, p)
        rmse.update(y, p)
    assert ours.values()["mae"] == pytest.approx(mae.get(), rel=1e-9)
    assert ours.values()["rmse"] == pytest.approx(rmse.get(), rel=1e-9)


def test_the_anomaly_auc_ranks_scores_outside_zero_one():
    """Detectors score on any scale (a distance of 7.7-144, River's LOF ~1 for inliers, an SVM
    margin below 0): clipped into [0, 1], every score >= 1 fell into one bin and the AUC read 0.5
    (an audit). The bins now take an order-keeping map of the score."""
    import itertools

    from learners.metrics import ModelMetrics
    from learners.predict import Prediction

    scores = [1.5, 2.0, 3.0, 4.0, 10.0, 12.0, 0.2, 0.4, -3.0, -0.5, 144.0, 7.7]
    ys = [0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0]
    pairs = list(itertools.product([s for s, y in zip(scores, ys) if y], [s for s, y in zip(scores, ys) if not y]))
    exact = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    m = ModelMetrics("anomaly")
    for s, y in zip(scores, ys):
        m.update(float(y), Prediction(s))
    assert abs(m.values()["roc_auc"] - exact) < 1e-9
