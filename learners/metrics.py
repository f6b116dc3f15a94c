"""Online prequential metrics of one model, from the prediction that was served and the label.

binary: log loss, accuracy (score >= threshold), ROC AUC; multiclass: accuracy; regression and
recommendation: MAE and RMSE; anomaly: ROC AUC of the score against ``label != 0``.

>>> m = ModelMetrics("binary", threshold=0.5)
>>> m.update(True, Prediction(0.8)); m.update(False, Prediction(0.3))
>>> m.values()["accuracy"], m.n
(1.0, 2)
"""

from __future__ import annotations

from typing import Any

from river import metrics

from learners.predict import Prediction


class ModelMetrics:
    """Prequential metrics for one model and one task."""

    def __init__(self, task: str, threshold: float = 0.5):
        self.task = task
        self.threshold = threshold
        self.n = 0
        self._metrics: dict[str, Any] = {}
        if task == "binary":
            self._metrics = {
                "log_loss": metrics.LogLoss(),
                "accuracy": metrics.Accuracy(),
                "roc_auc": metrics.ROCAUC(),
            }
        elif task == "multiclass":
            self._metrics = {"accuracy": metrics.Accuracy()}
        elif task in ("regression", "recommendation"):
            self._metrics = {"mae": metrics.MAE(), "rmse": metrics.RMSE()}
        elif task == "anomaly":
            self._metrics = {"roc_auc": metrics.ROCAUC()}

    def update(self, y: Any, prediction: Prediction) -> None:
        """Account one (normalized label, served prediction) pair."""
        self.n += 1
        score = prediction.score
        if self.task == "binary":
            self._metrics["log_loss"].update(y, score)
            self._metrics["accuracy"].update(y, score >= self.threshold)
            self._metrics["roc_auc"].update(y, score)
        elif self.task == "multiclass":
            self._metrics["accuracy"].update(y, prediction.label)
        elif self.task in ("regression", "recommendation"):
            self._metrics["mae"].update(y, score)
            self._metrics["rmse"].update(y, score)
        elif self.task == "anomaly":
            self._metrics["roc_auc"].update(bool(y != 0), score)

    def values(self) -> dict[str, float]:
        """Current metric values by name."""
        return {name: float(metric.get()) for name, metric in self._metrics.items()}
