"""Label delays, alerts and model events."""

from __future__ import annotations

from typing import Any

from analytics.backends.base import Backend
from analytics.metrics.common import ALL_TIME_MS, Filters
from analytics.queries import run_query


def label_delays(backend: Backend, db: str = "eddy", *, filters: Filters = Filters(),
                 bucket_ms: int = ALL_TIME_MS) -> list[dict[str, Any]]:
    """Label-delay distribution (n, mean, min, p50..p99, max in ms) per pipeline, run, bucket."""
    return run_query(backend, "label_delays", db, {**filters.params(), "bucket_ms": int(bucket_ms)})


def alerts(backend: Backend, db: str = "eddy", *, filters: Filters = Filters()) -> list[dict[str, Any]]:
    """Alerts in time order (ts_ms)."""
    return run_query(backend, "alerts", db, filters.params())


def model_events(backend: Backend, db: str = "eddy", *,
                 filters: Filters = Filters()) -> list[dict[str, Any]]:
    """Model set changes in time order (ts_ms)."""
    return run_query(backend, "model_events", db, filters.params())
