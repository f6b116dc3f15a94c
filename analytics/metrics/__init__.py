"""Python API over the shipped SQL: each function runs one query and returns its rows."""

from analytics.metrics.common import ALL_TIME_MS, MAX_MS, Filters, run_ids, time_range
from analytics.metrics.drift import drift, drift_ks, drift_psi, first_drift
from analytics.metrics.models import calibration, model_metrics
from analytics.metrics.segments import segment_metrics
from analytics.metrics.timeline import alerts, label_delays, model_events

__all__ = [
    "ALL_TIME_MS", "MAX_MS", "Filters", "alerts", "calibration", "drift", "drift_ks",
    "drift_psi", "first_drift", "label_delays", "model_events", "model_metrics",
    "run_ids", "segment_metrics", "time_range",
]
