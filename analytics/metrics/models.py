"""Model quality over time and calibration."""

from __future__ import annotations

from typing import Any

from analytics.backends.base import Backend
from analytics.metrics.common import ALL_TIME_MS, Filters
from analytics.queries import run_query


def model_metrics(backend: Backend, db: str = "eddy", *, filters: Filters = Filters(),
                  bucket_ms: int = ALL_TIME_MS, threshold: float = 0.5) -> list[dict[str, Any]]:
    """Count, accuracy, log loss, ROC AUC, precision/recall/F1, bias per run, model and bucket.

    Rows: run_id, model, bucket_ms, n, positives, mean_prediction, mean_label, bias, accuracy,
    class_accuracy, log_loss, roc_auc, tp, fp, fn, tn, precision, recall, f1, mae, rmse (see
    sql/queries/model_metrics.sql).
    """
    params = {**filters.params(), "bucket_ms": int(bucket_ms), "threshold": float(threshold)}
    return run_query(backend, "model_metrics", db, params)


def calibration(backend: Backend, db: str = "eddy", *, filters: Filters = Filters(),
                n_bins: int = 10, bucket_ms: int = ALL_TIME_MS) -> list[dict[str, Any]]:
    """Reliability curve: per run, model, bucket and bin: n, mean_prediction, observed_rate."""
    params = {**filters.params(), "n_bins": int(n_bins), "bucket_ms": int(bucket_ms)}
    return run_query(backend, "calibration", db, params)
