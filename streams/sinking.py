"""Build the analytics sink a worker writes through (ClickHouse via chDB server or clickhouse-connect)."""

from __future__ import annotations

from typing import Any

from analytics import connect, ensure_schema, ensure_views
from analytics.sink import Sink
from streams.config import PipelineConfig
from streams.exceptions import StreamsError


def build_sink(config: PipelineConfig, url: str, manifest: Any | None = None) -> Any:
    """Connect, create the tables and views once (idempotent), record the live run's manifest,
    and return a batching `Sink`."""
    backend = connect(url)
    ensure_schema(backend, config.sink.database, config.sink.ttl_days)
    ensure_views(backend, config.sink.database)
    if manifest is not None:
        from streams.manifest import run_kind, save_manifest

        kind = run_kind(backend, config.sink.database, manifest.run_id)
        if kind not in (None, manifest.kind):  # its rows would replace the other run's, by key
            raise StreamsError(
                f"run id {manifest.run_id!r} is a {kind} run's in {config.sink.database}.runs: give this "
                f"{manifest.kind} run its own (eddy worker --run-id, or EDDY_RUN_ID)")
        save_manifest(backend, config.sink.database, manifest)
    return Sink(backend, config.sink.database, max_batch_rows=config.sink.batch_rows,
                max_batch_age_ms=int(config.sink.flush_interval * 1000))
