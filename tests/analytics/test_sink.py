import pytest

from analytics.backends import HttpBackend
from analytics.exceptions import BackendUnavailable, RowError, SinkFull
from analytics.schema import ensure_schema
from analytics.sink import Sink

from .fixtures import ServerProcess

T0 = 1767225600000


def labels(n, start=0, prefix="e"):
    return [{"pipeline": "p", "event_id": f"{prefix}{i}", "label": float(i % 2),
             "label_ts": T0 + i} for i in range(start, start + n)]


def count(backend, db, table="labels", final=False):
    return backend.query(f"SELECT count() AS n FROM {db}.{table}{' FINAL' if final else ''}")[0]["n"]


def test_same_rows_twice_are_written_once(chdb_backend, fresh_db):
    sink = Sink(chdb_backend, fresh_db, max_batch_rows=100)
    sink.add("labels", labels(250))
    sink.flush()
    sink.add("labels", labels(250))           # redelivered
    sink.add("labels", labels(10, 245))       # overlapping, with 5 new
    sink.add("labels", labels(3, 1000) * 2)   # duplicates inside one batch
    sink.flush()
    assert count(chdb_backend, fresh_db) == 258  # raw count: no duplicate even before merges
    assert sink.stats.written == 258 and sink.stats.duplicates == 250 + 5 + 3


def test_dedup_keys_with_ints_and_times(chdb_backend, fresh_db):
    dlq = {"pipeline": "p", "source_topic": "p.events", "partition": 2, "offset": 7, "key": b"k",
           "value": b"\x00bad", "error_class": "bad_magic", "reason": "magic byte 0x61",
           "ts": T0, "schema_id": None}
    alert = {"pipeline": "p", "run_id": "r", "model": "m", "kind": "loss_drift", "ts": T0 + 1,
             "value": 0.3}
    sink = Sink(chdb_backend, fresh_db)
    for _ in range(2):
        sink.add("dlq", [dlq, {**dlq, "offset": 8}])
        sink.add("alerts", [alert])
        sink.flush()
    assert count(chdb_backend, fresh_db, "dlq") == 2 and count(chdb_backend, fresh_db, "alerts") == 1
    assert chdb_backend.query(f"SELECT base64Decode(value) AS v FROM {fresh_db}.dlq LIMIT 1") == [{"v": "\x00bad"}]


def test_batches_bounded_by_size_and_age(chdb_backend, fresh_db):
    sink = Sink(chdb_backend, fresh_db, max_batch_rows=100, max_batch_age_ms=1000)
    sink.add("labels", labels(150), now_ms=0)
    assert sink.maybe_flush(10) == 100 and sink.buffered == 50      # one full batch
    assert sink.maybe_flush(500) == 0                                 # remainder is young
    assert sink.maybe_flush(1010) == 50 and sink.buffered == 0        # ... until it is old
    assert count(chdb_backend, fresh_db) == 150


def test_marks_become_committable_only_when_written(chdb_backend, fresh_db):
    sink = Sink(chdb_backend, fresh_db, max_batch_rows=10)
    sink.add("labels", labels(5), now_ms=0, mark=("t", 0, 1))
    sink.add("predictions", [], now_ms=0, mark=("t", 0, 2))
    sink.add("labels", labels(5, 5), now_ms=0, mark=("t", 0, 3))
    assert sink.committable() == []
    sink.maybe_flush(1)   # 10 rows = one full batch
    assert sink.committable() == [("t", 0, 1), ("t", 0, 2), ("t", 0, 3)]


def test_bad_rows_are_refused_before_buffering(chdb_backend, fresh_db):
    sink = Sink(chdb_backend, fresh_db)
    with pytest.raises(RowError):
        sink.add("labels", labels(3) + [{"pipeline": "p"}])
    assert sink.buffered == 0


@pytest.mark.integration
def test_outage_backpressure_and_catch_up(tmp_path):
    """A real chDB server process is stopped and restarted under the sink."""
    srv = ServerProcess(tmp_path / "chdb").start()
    try:
        backend = HttpBackend(srv.url, timeout_s=5)
        ensure_schema(backend, "out", ttl_days=3650)
        sink = Sink(backend, "out", max_batch_rows=100, max_buffered_rows=300,
                    retry_initial_ms=100, retry_max_ms=1000)
        sink.add("labels", labels(100), now_ms=0)
        assert sink.maybe_flush(1) == 100

        srv.stop()
        sink.add("labels", labels(100, 100), now_ms=10)
        assert sink.maybe_flush(20) == 0                      # outage: nothing written, no raise
        assert not sink.healthy and sink.buffered == 100
        assert sink.retry_at_ms == 120                        # backoff 100 ms
        assert sink.maybe_flush(50) == 0 and sink.stats.failures == 1   # waits for the backoff
        assert sink.maybe_flush(120) == 0 and sink.retry_at_ms == 320   # doubles
        sink.add("labels", labels(200, 200), now_ms=130)
        assert sink.backpressure                               # 300 buffered: pause consuming
        with pytest.raises(SinkFull):
            sink.add("labels", labels(1, 999), now_ms=140)
        with pytest.raises(BackendUnavailable):
            sink.flush(150)

        srv.start()                                            # same folder, same port
        assert sink.maybe_flush(10_000) == 300                 # catches up
        assert sink.healthy and sink.buffered == 0 and not sink.backpressure
        sink.add("labels", labels(400), now_ms=10_001)         # everything redelivered
        sink.flush()
        assert count(backend, "out") == 400 and count(backend, "out", final=True) == 400
        ids = backend.query("SELECT min(event_id) AS lo, uniqExact(event_id) AS n FROM out.labels")
        assert ids == [{"lo": "e0", "n": 400}]
    finally:
        srv.stop()


def test_runs_and_archive_rows_round_trip(chdb_backend, fresh_db):
    run = {"run_id": "replay-1", "pipeline": "p", "kind": "replay", "created_at": T0,
           "config_yaml": "a: 1\n", "config_hash": "abc", "code_version": "0.1.0",
           "packages": {"river": "0.23"}, "schema_ids": {"p.events-value": 3},
           "seeds": {"models": 2**40}, "inputs": {"topics": ["p.events"], "to_ms": T0},
           "like_run": None}
    event = {"pipeline": "p", "event_id": "e1", "event_ts": T0, "topic": "p.events",
             "partition": 0, "offset": 12, "payload": b"\x00\x00\x00\x00\x03avro", "schema_id": 3}
    sink = Sink(chdb_backend, fresh_db)
    sink.add("runs", [run, run])
    sink.add("events_archive", [event])
    sink.flush()
    got = chdb_backend.query(f"SELECT seeds, schema_ids, JSONExtractString(inputs, 'topics', 1) AS t "
                             f"FROM {fresh_db}.runs")
    assert got == [{"seeds": {"models": 2**40}, "schema_ids": {"p.events-value": 3}, "t": "p.events"}]
    (a,) = chdb_backend.query(f"SELECT base64Decode(payload) = unhex('0000000003') || 'avro' AS ok "
                              f"FROM {fresh_db}.events_archive")
    assert a == {"ok": 1}


def test_a_write_error_that_is_not_an_outage_is_raised_and_rows_kept(chdb_backend):
    from analytics.exceptions import QueryError

    sink = Sink(chdb_backend, "no_such_db")
    sink.add("labels", labels(3), now_ms=0)
    with pytest.raises(QueryError):
        sink.maybe_flush(10_000)
    assert sink.buffered == 3


def test_add_in_one_thread_while_another_flushes(chdb_backend, fresh_db):
    import threading

    sink = Sink(chdb_backend, fresh_db, max_batch_rows=500, max_buffered_rows=50_000)
    done = threading.Event()

    def produce():
        for i in range(0, 20_000, 100):
            sink.add("labels", labels(100, i), now_ms=i, mark=i)
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    marks = []
    while not done.is_set() or sink.buffered:
        sink.flush()
        marks += sink.committable()
    t.join()
    marks += sink.committable()
    assert count(chdb_backend, fresh_db) == 20_000 and sink.stats.duplicates == 0
    assert marks == list(range(0, 20_000, 100))


def test_a_replays_drift_is_written_under_its_run_id(chdb_backend, fresh_db):
    """`eddy replay` logs its drift alerts and the promotions they made (version 0: a replay's
    models are never versioned) in the tables the live sink fills from the topics."""
    from streams.replay.output import PredictionWriter

    writer = PredictionWriter(chdb_backend, fresh_db, "fraud")
    alert = {"model": "logreg", "kind": "loss_drift", "ts": 1_700_000_000_000, "value": 0.9, "action": "promote",
             "detail": "mean loss rose; promoted 'tree'"}
    writer.log_drift("bt-1", [alert], [{"action": "promote", "model": "tree", "previous": "logreg", "ts": alert["ts"]}])
    writer.close()
    alerts = chdb_backend.query(f"SELECT run_id, model, kind, action FROM {fresh_db}.alerts FINAL")
    events = chdb_backend.query(f"SELECT model, version, action FROM {fresh_db}.model_events FINAL "
                                f"WHERE run_id = 'bt-1' ORDER BY action DESC")
    assert alerts == [{"run_id": "bt-1", "model": "logreg", "kind": "loss_drift", "action": "promote"}]
    assert [(e["model"], int(e["version"]), e["action"]) for e in events] == [("tree", 0, "promote"), ("logreg", 0, "demote")]
