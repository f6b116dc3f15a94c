"""Wire `WorkerMetrics` into a Faust app: a timer for lag and model gauges, assignment logs."""

from __future__ import annotations

import logging
from typing import Any

from streams.observability.logs import lifecycle
from streams.observability.metrics import WorkerMetrics

log = logging.getLogger("eddy.observability")


def attach(app: Any, metrics: WorkerMetrics, models: Any, interval: float = 1.0) -> None:
    """Every `interval` s: lag per assigned partition and the versions/metrics of `models`
    (a `learners.ModelSet`). Each partition assignment is logged as a lifecycle event."""

    async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        parts = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        lifecycle("assignment", pipeline=metrics.pipeline, partitions=parts)

    app.on_partitions_assigned.connect(on_assigned)

    @app.timer(interval=interval)
    async def observe_gauges() -> None:
        metrics.set_models_from(models)
        consumer = getattr(app, "_consumer", None)  # not created yet before the first start
        if consumer is None:
            return
        try:
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - a consumer between rebalances has no assignment
            return
        committed = getattr(consumer, "_committed_offset", {})
        for tp in assigned:
            try:
                hw = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - no fetch yet for this partition
                hw = None
            metrics.set_lag(tp.topic, tp.partition, hw, committed.get(tp))
