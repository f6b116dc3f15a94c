"""Worker heartbeats in Redis, so `eddy status` can list live workers and their lag.

Each worker writes `eddy:<p>:worker:<host>:<pid>` (JSON, expires after `ttl_s`) every few
seconds: roles, metrics URL, totals, throughput and lag per partition. A worker that stops
or dies disappears from the list when its key expires.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

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
