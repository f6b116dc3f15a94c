"""Worker heartbeats in Redis, so `eddy status` can list live workers and their lag.

Each worker writes `eddy:<p>:worker:<host>:<pid>` (JSON, expires after `ttl_s`) every few
seconds: roles, metrics URL, totals, throughput and lag per partition. A worker that stops
or dies disappears from the list when its key expires.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import redis

from streams.observability.metrics import WorkerMetrics

WORKER_KEY = "eddy:{pipeline}:worker:{worker}"


def worker_id() -> str:
    """`host:pid` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat(metrics: WorkerMetrics) -> dict[str, Any]:
    """What a worker publishes about itself (a digest of `metrics.summary()`)."""
    s = metrics.summary()
    return {
        "worker": worker_id(), "pid": os.getpid(), "roles": s["roles"], "metrics_url": metrics.url,
        "uptime_s": s["uptime_s"], "ts": s["now"], "events_per_s": s["throughput"]["events_per_s"],
        "totals": {k: v for k, v in s["totals"].items() if k != "predictions"},
        "lag": s["lag"], "outages": sorted(s["outages"]),
    }


def write_heartbeat(redis_client: Any, metrics: WorkerMetrics, ttl_s: int = 15) -> None:
    """SET the worker's key with a TTL (one round trip)."""
    key = WORKER_KEY.format(pipeline=metrics.pipeline, worker=worker_id())
    redis_client.set(key, json.dumps(heartbeat(metrics)), ex=ttl_s)


def read_workers(redis_client: Any, pipeline: str) -> list[dict[str, Any]]:
    """The live workers of `pipeline` (those whose heartbeat has not expired), sorted by id."""
    keys = sorted(redis_client.scan_iter(match=WORKER_KEY.format(pipeline=pipeline, worker="*"), count=1000))
    if not keys:
        return []
    out = []
    for raw in redis_client.mget(keys):
        if raw is not None:
            out.append(json.loads(raw))
    return sorted(out, key=lambda w: w["worker"])


def scorers_lag(redis_client: Any, pipeline: str, topic: str) -> int | None:
    """The largest lag of `topic` (the events) that a live scoring worker reported in its
    heartbeat, or None when no live scorer reported any (none runs, or none has fetched yet)."""
    lags = [entry["lag"] for w in read_workers(redis_client, pipeline) if "score" in w.get("roles", ())
            for entry in w.get("lag", ()) if entry.get("topic") == topic]
    return max(lags) if lags else None


class ScorersBehind:
    """``await behind()``: whether the scorers of another process are more than `slack` events
    behind on `topic`, read from their heartbeats at most every `every` s (they are written
    every few seconds). Unknown (no scorer heartbeat, Redis down) counts as behind: the caller
    then waits rather than pile up work for scorers it cannot see.
    """

    def __init__(self, redis_client: Any, pipeline: str, topic: str, slack: int, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.pipeline, self.topic, self.slack, self.every = redis_client, pipeline, topic, slack, every
        self.clock = clock
        self._at = float("-inf")
        self._behind = True

    async def __call__(self) -> bool:
        now = self.clock()
        if now - self._at >= self.every:
            self._at = now
            try:
                lag = scorers_lag(self.redis, self.pipeline, self.topic)
            except (redis.ConnectionError, redis.TimeoutError):
                lag = None
            self._behind = lag is None or lag > self.slack
        return self._behind
