"""Worker heartbeats in Redis, so `eddy status` can list live workers and their lag.

Each worker writes `eddy:{<p>}:worker:<host>:<pid>` (JSON, expires after `ttl_s`) every few
seconds: roles, metrics URL, totals, throughput and lag per partition, and adds its id to the
set `eddy:{<p>}:workers`, so readers never SCAN a keyspace of millions of feature keys. A worker
that stops or dies disappears from the list when its key expires (readers drop its id then).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import redis

from streams.keyspace import key
from streams.observability.metrics import WorkerMetrics


def worker_key(pipeline: str, worker: str) -> str:
    return key(pipeline, "worker", worker)


def workers_key(pipeline: str) -> str:
    return key(pipeline, "workers")


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
    """SET the worker's key with a TTL and add its id to the workers set (one round trip)."""
    me = worker_id()
    pipe = redis_client.pipeline(transaction=False)
    pipe.set(worker_key(metrics.pipeline, me), json.dumps(heartbeat(metrics)), ex=ttl_s)
    pipe.sadd(workers_key(metrics.pipeline), me)
    pipe.execute()


def read_workers(redis_client: Any, pipeline: str) -> list[dict[str, Any]]:
    """The live workers of `pipeline` (those whose heartbeat has not expired), sorted by id."""
    ids = sorted(_decode(i) for i in redis_client.smembers(workers_key(pipeline)))
    if not ids:
        return []
    raws = redis_client.mget([worker_key(pipeline, i) for i in ids])
    gone = [i for i, raw in zip(ids, raws) if raw is None]
    if gone:  # expired: stopped or dead
        redis_client.srem(workers_key(pipeline), *gone)
    return sorted((json.loads(raw) for raw in raws if raw is not None), key=lambda w: w["worker"])


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
