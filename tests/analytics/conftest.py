"""Fixtures: one chDB folder for the whole package (chDB allows one folder per process); the
feature tests' real redis-server for the few tests that need one (`eddy status`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from analytics.backends import ChdbBackend
from analytics.schema import ensure_schema, ensure_views
from analytics.sink import Sink
from analytics.testing import SyntheticStream, synthetic_stream
from tests.features.conftest import redis_client, redis_url  # noqa: F401

_ids = itertools.count()


@pytest.fixture(scope="package")
def chdb_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbBackend]:
    backend = ChdbBackend(str(tmp_path_factory.mktemp("chdb")))
    yield backend
    backend.close()


@pytest.fixture
def fresh_db(chdb_backend: ChdbBackend) -> str:
    """A new database with every table and view."""
    db = f"t{next(_ids)}"
    ensure_schema(chdb_backend, db, ttl_days=3650)
    ensure_views(chdb_backend, db)
    return db


@pytest.fixture(scope="package")
def stream() -> SyntheticStream:
    return synthetic_stream()


@pytest.fixture(scope="package")
def stream_db(chdb_backend: ChdbBackend, stream: SyntheticStream) -> str:
    """The synthetic stream written through the sink into database ``stream``."""
    ensure_schema(chdb_backend, "stream", ttl_days=3650)
    ensure_views(chdb_backend, "stream")
    sink = Sink(chdb_backend, "stream", max_batch_rows=5000, max_buffered_rows=100_000)
    for table in ("predictions", "labels", "alerts", "model_events"):
        rows = getattr(stream, table)
        for i in range(0, len(rows), 5000):
            sink.add(table, rows[i:i + 5000])
            sink.flush()
    return "stream"
