"""Wire `WorkerMetrics` into a Faust app: a timer for lag and model gauges, assignment logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from streams.observability.heartbeat import write_heartbeat
from streams.observability.logs import lifecycle
from streams.observability.metrics import WorkerMetrics

log = logging.getLogger("eddy.observability")


def attach(app: Any, metrics: WorkerMetrics, models: Any, interval: float = 1.0, heartbeat: Any | None = None,
           heartbeat_every: float = 5.0) -> Callable[[Any], None]:
    """Every `interval` s: lag per assigned partition and the versions/metrics of `models`
    (a `learners.ModelSet`). Each partition assignment is logged as a lifecycle event.
    With a Redis client as `heartbeat`, the worker also writes its heartbeat for `eddy status`.

    Returns `other_assigned(partitions, feed=...)`: report the assignment of a consumer of the
    worker's own (`feed="events"`, `"labels"`); each `assignment` line lists Faust's partitions
    and every feed's together."""
    last_beat = [0.0]
    faust_parts: list[str] = []
    feed_parts: dict[str, list[str]] = {}

    def log_assignment() -> None:
        parts = faust_parts + [p for ps in feed_parts.values() for p in ps]
        lifecycle("assignment", pipeline=metrics.pipeline, partitions=sorted(parts))

    async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        faust_parts[:] = [f"{tp.topic}:{tp.partition}" for tp in assigned]
        log_assignment()

    def other_assigned(assigned: Any, feed: str = "events") -> None:
        feed_parts[feed] = [f"{tp.topic}:{tp.partition}" for tp in assigned]
        log_assignment()

    app.on_partitions_assigned.connect(on_assigned)

    @app.timer(interval=interval)
    async def observe_gauges() -> None:
        metrics.set_models_from(models)
        now = metrics.clock()
        if heartbeat is not None and now - last_beat[0] >= heartbeat_every:
            last_beat[0] = now
            try:
                write_heartbeat(heartbeat, metrics)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                metrics.redis_error("heartbeat", exc)
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

    return other_assigned
