"""Shared filters for the metrics API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics.backends.base import Backend
from analytics.queries import run_query

MAX_MS = 9_000_000_000_000
"""Upper bound of the default time range (year 2255; DateTime64(3) stops in 2299)."""

ALL_TIME_MS = 10**15
"""A bucket width that puts every event in one bucket (``bucket_ms`` = 0)."""


@dataclass(frozen=True)
class Filters:
    """Which rows a metric reads: ``''`` means every pipeline / run; times are ms, [from, to)."""

    pipeline: str = ""
    run_id: str = ""
    from_ms: int = 0
    to_ms: int = MAX_MS

    def params(self) -> dict[str, Any]:
        """As query parameters."""
        return {"pipeline": self.pipeline, "run_id": self.run_id,
                "from_ms": self.from_ms, "to_ms": self.to_ms}


def time_range(backend: Backend, db: str = "eddy", *, pipeline: str = "",
               run_id: str = "") -> tuple[int, int, int]:
    """``(n, min_ms, max_ms)`` of the predictions matching the filters (n = 0: no data)."""
    row = run_query(backend, "time_range", db, {"pipeline": pipeline, "run_id": run_id})[0]
    return int(row["n"]), int(row["min_ms"]), int(row["max_ms"])


def run_ids(backend: Backend, db: str = "eddy", *, pipeline: str = "") -> list[str]:
    """The run ids that have predictions (of `pipeline`), the first served first."""
    return [r["run_id"] for r in run_query(backend, "run_ids", db, {"pipeline": pipeline})]
