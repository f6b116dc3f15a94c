"""Build the analytics sink a worker writes through (ClickHouse via chDB server or clickhouse-connect)."""

from __future__ import annotations

from typing import Any

from analytics import connect, ensure_schema, ensure_views
from analytics.sink import Sink
from streams.config import PipelineConfig


def build_sink(config: PipelineConfig, url: str, manifest: Any | None = None) -> Any:
    """Connect, create the tables and views once (idempotent), record the live run's manifest,
    and return a batching `Sink`."""
    backend = connect(url)
    ensure_schema(backend, config.sink.database, config.sink.ttl_days)
    ensure_views(backend, config.sink.database)
    if manifest is not None:
        from streams.manifest import save_manifest

        save_manifest(backend, config.sink.database, manifest)
    return Sink(backend, config.sink.database, max_batch_rows=config.sink.batch_rows,
                max_batch_age_ms=int(config.sink.flush_interval * 1000))
