"""Build the analytics sink a worker writes through (ClickHouse via chDB server or clickhouse-connect)."""

from __future__ import annotations

import logging
from typing import Any

from analytics import connect, ensure_schema, ensure_views
from analytics.exceptions import BackendUnavailable
from analytics.sink import Sink
from streams.config import PipelineConfig
from streams.exceptions import StreamsError

log = logging.getLogger("eddy.sink")


def build_sink(config: PipelineConfig, url: str, manifest: Any | None = None) -> Sink:
    """A batching `Sink` that creates the tables and views (idempotent) and records the live
    run's manifest before its first write.

    Done now if ClickHouse answers (a run id of another kind is refused at once); if it is down,
    the worker starts all the same and the sink does it when ClickHouse answers: scoring never
    waits on analytics (its rows wait in Kafka meanwhile)."""
    backend = connect(url)
    db = config.sink.database

    def prepare() -> None:
        ensure_schema(backend, db, config.sink.ttl_days)
        ensure_views(backend, db)
        if manifest is not None:
            from streams.manifest import run_kind, save_manifest

            kind = run_kind(backend, db, manifest.run_id)
            if kind not in (None, manifest.kind):  # its rows would replace the other run's, by key
                raise StreamsError(
                    f"run id {manifest.run_id!r} is a {kind} run's in {db}.runs: give this "
                    f"{manifest.kind} run its own (eddy worker --run-id, or EDDY_RUN_ID)")
            save_manifest(backend, db, manifest)

    # the sink feed buffers one batch while the one before it is flushed (or held): room for both
    sink = Sink(backend, db, max_batch_rows=config.sink.batch_rows,
                max_batch_age_ms=int(config.sink.flush_interval * 1000),
                max_buffered_rows=max(100_000, 3 * config.sink.batch_rows), prepare=prepare)
    try:
        sink.prepare()
    except BackendUnavailable as exc:
        log.warning("ClickHouse unavailable at start (%s): scoring starts; the sink sets up its tables and "
                    "writes when ClickHouse answers", exc)
    return sink
