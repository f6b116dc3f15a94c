"""`eddy demo` clears only the rows of its own pipeline, never those of the example's `fraud`
pipeline the quickstart runs in the same `$EDDY_HOME`."""

from __future__ import annotations

import pytest

from streams.cli.demo import PIPELINE, _forget_previous_demo


def _count(backend, db: str, table: str, pipeline: str) -> int:
    return backend.query(f"SELECT count() AS n FROM {db}.{table} WHERE pipeline = '{pipeline}'")[0]["n"]


def test_the_demo_has_its_own_pipeline_and_deletes_only_its_rows(chdb_backend, fresh_db):
    assert PIPELINE != "fraud"  # the quickstart's pipeline (examples/fraud/config.yaml)
    for pipeline in ("fraud", PIPELINE):
        chdb_backend.execute(f"INSERT INTO {fresh_db}.runs (run_id, pipeline, kind) "
                             f"VALUES ('{pipeline}-live', '{pipeline}', 'live')")
        chdb_backend.execute(f"INSERT INTO {fresh_db}.labels (pipeline, event_id, label, label_ts) "
                             f"VALUES ('{pipeline}', 'tx-1', 1, 0)")
    assert _forget_previous_demo(chdb_backend, fresh_db, PIPELINE) == 2
    for table in ("runs", "labels"):
        assert _count(chdb_backend, fresh_db, table, PIPELINE) == 0
        assert _count(chdb_backend, fresh_db, table, "fraud") == 1
    assert _forget_previous_demo(chdb_backend, fresh_db, PIPELINE) == 0  # nothing left to clear


def test_it_refuses_another_pipeline(chdb_backend, fresh_db):
    with pytest.raises(ValueError, match="only its own"):
        _forget_previous_demo(chdb_backend, fresh_db, "fraud")
