"""Observability of a worker: Prometheus metrics, `/health` `/ready` `/dashboard`, JSON logs."""

from streams.observability.dashboard import dashboard_html
from streams.observability.faust_hooks import attach
from streams.observability.heartbeat import ScorersBehind, read_workers, scorers_lag, write_heartbeat
from streams.observability.instrument import instrument
from streams.observability.logs import JsonFormatter, lifecycle, logging_config, setup_logging
from streams.observability.metrics import WorkerMetrics, watch_redis
from streams.observability.readiness import broker_check, redis_check, run_checks, sink_check
from streams.observability.server import ObservabilityServer
from streams.observability.worker_server import log_start, serve_worker

__all__ = [
    "JsonFormatter",
    "ObservabilityServer",
    "ScorersBehind",
    "WorkerMetrics",
    "attach",
    "broker_check",
    "dashboard_html",
    "instrument",
    "lifecycle",
    "log_start",
    "logging_config",
    "read_workers",
    "redis_check",
    "run_checks",
    "scorers_lag",
    "serve_worker",
    "setup_logging",
    "sink_check",
    "watch_redis",
    "write_heartbeat",
]
