"""Heartbeats on the real Redis: listed through the workers set (no SCAN), gone once expired."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from streams.observability import (
    WorkerMetrics,
    read_workers,
    scorers_lag,
    write_heartbeat,
)
from streams.observability.heartbeat import worker_id, workers_key

pytestmark = pytest.mark.integration


def test_heartbeat_listed_then_dropped_when_expired(stack):
    r = redis.Redis.from_url(stack.endpoints.redis)
    pipeline = f"hb{uuid.uuid4().hex[:6]}"
    metrics = WorkerMetrics(pipeline, frozenset({"score"}))
    metrics.set_lag(f"{pipeline}.events", 0, 700, 200)
    write_heartbeat(r, metrics, ttl_s=1)
    [me] = read_workers(r, pipeline)
    assert me["worker"] == worker_id() and me["roles"] == ["score"]
    assert scorers_lag(r, pipeline, f"{pipeline}.events") == 500
    time.sleep(1.6)
    assert read_workers(r, pipeline) == [] and scorers_lag(r, pipeline, f"{pipeline}.events") is None
    assert r.scard(workers_key(pipeline)) == 0  # the reader dropped the expired id
