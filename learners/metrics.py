"""Online prequential metrics of one model, from the prediction that was served and the label.

binary: log loss, accuracy (score >= threshold), ROC AUC; multiclass: accuracy; regression and
recommendation: MAE and RMSE; anomaly: ROC AUC of the score against ``label != 0`` (any real
score: binned after an order-keeping map into [0, 1], `_unit`).

Updates are a few arithmetic operations (they run for every model on every label): ROC AUC is
computed from per-class score histograms (`AUC_BINS` equal-width bins on [0, 1], ties within a
bin counted half), exact up to that binning. The exact AUC of any run is a SQL query away
(`eddy.labelled_predictions`, docs/analytics.md); these are for dashboards and drift actions.

>>> m = ModelMetrics("binary", threshold=0.5)
>>> m.update(True, Prediction(0.8)); m.update(False, Prediction(0.3))
>>> m.values()["accuracy"], m.values()["roc_auc"], m.n
(1.0, 1.0, 2)
"""

from __future__ import annotations

import math
from typing import Any

from learners.predict import Prediction

AUC_BINS = 1000
_EPS = 1e-15


class _BinnedAUC:
    """ROC AUC from per-class histograms of scores in [0, 1] (scores outside are clipped)."""

    def __init__(self, bins: int = AUC_BINS) -> None:
        self.bins = bins
        self.pos = [0] * bins
        self.neg = [0] * bins

    def update(self, positive: bool, score: float) -> None:
        i = int(score * self.bins) if score == score else 0  # noqa: PLR0124 - False for NaN alone, the cheapest test
        i = 0 if i < 0 else self.bins - 1 if i >= self.bins else i
        (self.pos if positive else self.neg)[i] += 1

    def get(self) -> float:
        n_pos, n_neg = sum(self.pos), sum(self.neg)
        if n_pos == 0 or n_neg == 0:
            return 0.0
        below = 0  # negatives in lower bins
        area = 0.0
        for p, n in zip(self.pos, self.neg):
            area += p * (below + 0.5 * n)
            below += n
        return area / (n_pos * n_neg)


def _unit(score: float) -> float:
    """An anomaly score (any real: a distance, River's LOF ~1 for inliers, an SVM margin) mapped
    into [0, 1] for the AUC's bins, keeping its order: [0, 1] to [0.25, 0.75] (half the bins, for
    the detectors that score there), above 1 to (0.75, 1), below 0 to (0, 0.25).

    >>> [_unit(s) for s in (-1.0, 0.0, 0.5, 1.0, 3.0)]
    [0.125, 0.25, 0.5, 0.75, 0.9166666666666666]
    """
    if score > 1.0:
        return 1.0 - 0.25 / score
    if score < 0.0:
        return 0.25 / (1.0 - score)
    return 0.25 + 0.5 * score if score == score else 0.0  # noqa: PLR0124 - NaN


class ModelMetrics:
    """Prequential metrics for one model and one task."""

    def __init__(self, task: str, threshold: float = 0.5):
        self.task = task
        self.threshold = threshold
        self.n = 0
        self._loss = 0.0  # log loss (binary) or absolute error (regression) sums
        self._sq = 0.0
        self._correct = 0
        self._auc = _BinnedAUC() if task in ("binary", "anomaly") else None
        self._binary = task == "binary"

    def update(self, y: Any, prediction: Prediction) -> None:
        """Account one (normalized label, served prediction) pair."""
        self.n += 1
        score = prediction.score
        if self._binary:
            p = min(max(score, _EPS), 1.0 - _EPS)
            self._loss -= math.log(p) if y else math.log(1.0 - p)
            self._correct += (score >= self.threshold) == bool(y)
            self._auc.update(bool(y), score)
        elif self.task == "multiclass":
            self._correct += prediction.label == y or prediction.label == str(y)
        elif self.task in ("regression", "recommendation"):
            err = float(y) - score
            self._loss += abs(err)
            self._sq += err * err
        elif self.task == "anomaly":
            self._auc.update(bool(y != 0), _unit(score))

    def values(self) -> dict[str, float]:
        """Current metric values by name."""
        n = self.n or 1
        if self.task == "binary":
            return {"log_loss": self._loss / n, "accuracy": self._correct / n, "roc_auc": self._auc.get()}
        if self.task == "multiclass":
            return {"accuracy": self._correct / n}
        if self.task in ("regression", "recommendation"):
            return {"mae": self._loss / n, "rmse": math.sqrt(self._sq / n)}
        return {"roc_auc": self._auc.get()}
