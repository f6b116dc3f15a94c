"""Per-stage timings inside `Processor.score/learn` without touching the processor: the feature
engine, the models and the snapshot store of a live processor get timing wrappers.

| stage            | call                                   |
|------------------|----------------------------------------|
| `features`       | `engine.process(events)`: state load, kernels and the commit in Redis; in the live worker also `predict` and `snapshot`, which run inside the commit attempt |
| `predict`        | `models.predict_many_full(xs)`         |
| `snapshot`       | `snapshots.attached(snaps)` (framed for the commit) or `snapshots.put_many(snaps)` |
| `snapshot_fetch` | `snapshots.get_many(ids)` (label join, redeliveries) |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from streams.observability.metrics import WorkerMetrics

STAGE_CALLS = (("features", "engine", "process"), ("predict", "models", "predict_many_full"),
               ("snapshot", "snapshots", "attached"), ("snapshot", "snapshots", "put_many"),
               ("snapshot_fetch", "snapshots", "get_many"))


def timed(metrics: WorkerMetrics, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, observing its wall time as `stage` (also when it raises)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            metrics.observe_stage(stage, time.perf_counter() - t0)

    run.__wrapped__ = fn  # type: ignore[attr-defined]
    return run


def instrument(processor: Any, metrics: WorkerMetrics) -> None:
    """Wrap the processor's stage calls (instance attributes; the classes are untouched)."""
    for stage, owner, method in STAGE_CALLS:
        obj = getattr(processor, owner, None)
        fn = getattr(obj, method, None) if obj is not None else None
        if fn is not None and not hasattr(fn, "__wrapped__"):
            setattr(obj, method, timed(metrics, stage, fn))
