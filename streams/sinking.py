"""Build the analytics sink a worker writes through (ClickHouse via chDB server or clickhouse-connect)."""

from __future__ import annotations

from typing import Any

from analytics import connect, ensure_schema, ensure_views
from analytics.sink import Sink
from streams.config import PipelineConfig


def build_sink(config: PipelineConfig, url: str) -> Any:
    """Connect, create the tables and views once (idempotent), and return a batching `Sink`."""
    backend = connect(url)
    ensure_schema(backend, config.sink.database, config.sink.ttl_days)
    ensure_views(backend, config.sink.database)
    return Sink(backend, config.sink.database, max_batch_rows=config.sink.batch_rows,
                max_batch_age_ms=int(config.sink.flush_interval * 1000))
