"""Start a worker's observability server with its readiness checks (used by `eddy worker`)."""

from __future__ import annotations

from typing import Any

from streams.endpoints import Endpoints, redact
from streams.observability.logs import lifecycle
from streams.observability.metrics import WorkerMetrics
from streams.observability.readiness import broker_check, redis_check, sink_check
from streams.observability.server import ObservabilityServer


def serve_worker(metrics: WorkerMetrics, endpoints: Endpoints, sink: Any | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> ObservabilityServer:
    """Serve `/metrics /health /ready /dashboard` for a worker; `/ready` checks the broker,
    Redis and (for a worker with the sink role) the ClickHouse backend."""
    checks = {"kafka": broker_check(endpoints.kafka), "redis": redis_check(endpoints.redis, pipeline=metrics.pipeline)}
    if sink is not None:
        checks["clickhouse"] = sink_check(sink.backend)
    server = ObservabilityServer(metrics, host, port, checks=checks).start()
    metrics.url = server.url
    lifecycle("metrics_server", pipeline=metrics.pipeline, url=server.url)
    return server


def log_start(metrics: WorkerMetrics, endpoints: Endpoints, run_id: str) -> None:
    """The `start` lifecycle line: pipeline, roles, run id and endpoints (passwords redacted)."""
    lifecycle("start", pipeline=metrics.pipeline, roles=list(metrics.roles), run_id=run_id,
              kafka=endpoints.kafka, redis=redact(endpoints.redis), clickhouse=redact(endpoints.clickhouse))
