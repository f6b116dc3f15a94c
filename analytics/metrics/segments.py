"""Quality and fairness per segment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.backends.base import Backend
from analytics.metrics.common import ALL_TIME_MS, Filters
from analytics.queries import run_query


def segment_metrics(backend: Backend, db: str = "eddy", *, segments: Sequence[str],
                    filters: Filters = Filters(), threshold: float = 0.5,
                    min_count: int = 20, bucket_ms: int = ALL_TIME_MS) -> list[dict[str, Any]]:
    """Per run, model, time bucket (one by default), segment and segment value: confusion counts, tpr, fpr, precision,
    selection_rate, accuracy, log_loss, roc_auc, bias, their differences and ratios against all
    rows and against the best value, ``disparity`` and ``rank_worst`` (1 = worst)."""
    params = {**filters.params(), "threshold": float(threshold), "segments": list(segments),
              "min_count": int(min_count), "bucket_ms": int(bucket_ms)}
    return run_query(backend, "segment_metrics", db, params)
