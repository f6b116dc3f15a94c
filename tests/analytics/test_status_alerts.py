"""`eddy status` "last alerts" (streams/cli/status_extra.py) on the package's chDB session."""

import io
import re

from rich.console import Console

from analytics.schema import ensure_schema
from analytics.sink import Sink
from streams.cli import status_extra


def test_last_alerts_newest_first_within_one_sink_batch(chdb_backend, monkeypatch):
    ensure_schema(chdb_backend, "eddy", ttl_days=3650)
    chdb_backend.execute("TRUNCATE TABLE eddy.alerts")
    t0 = 1_767_225_600_000  # 2026-01-01
    # one sink batch (one inserted_at), not in time order; another pipeline's alert is newer
    alerts = [{"pipeline": "p", "run_id": "p-live", "model": m, "kind": k, "ts": t0 + dt, "value": 0.5,
               "action": "none", "detail": ""}
              for m, k, dt in [("a", "loss_drift", 2000), ("b", "prediction_drift", 9000), ("a", "state_lost", 5000),
                               ("c", "loss_drift", 1000), ("b", "loss_drift", 7000), ("a", "loss_drift", 3000)]]
    alerts.append({**alerts[0], "pipeline": "other", "ts": t0 + 60_000})
    sink = Sink(chdb_backend, "eddy")
    sink.add("alerts", alerts)
    sink.flush()
    assert chdb_backend.query("SELECT uniqExact(inserted_at) AS n FROM eddy.alerts") == [{"n": 1}]
    out = io.StringIO()
    monkeypatch.setattr(status_extra, "console", Console(file=out, width=200))
    status_extra._print_alerts(chdb_backend, "p", "eddy", limit=5)
    text = out.getvalue()
    assert "p: last alerts" in text
    seconds = [int(s) for s in re.findall(r"2026-01-01 00:00:0(\d)\.000", text)]
    assert seconds == [9, 7, 5, 3, 2], text  # newest first, the oldest (1 s) past the limit


def test_last_alerts_come_from_the_database_the_sink_recorded(chdb_backend, redis_client, monkeypatch):
    """A pipeline whose `sink.database` is not ``eddy``: its worker records the database in Redis
    and `eddy status` reads the alerts there (it knows pipelines from Redis, not their configs)."""
    from streams.keyspace import sink_database_key

    ensure_schema(chdb_backend, "eddy_status_db", ttl_days=3650)
    chdb_backend.execute("TRUNCATE TABLE eddy_status_db.alerts")
    sink = Sink(chdb_backend, "eddy_status_db")
    sink.add("alerts", [{"pipeline": "elsewhere", "run_id": "elsewhere-live", "model": "m", "kind": "loss_drift",
                         "ts": 1_767_225_600_000, "value": 0.25, "action": "reset", "detail": ""}])
    sink.flush()
    redis_client.delete(sink_database_key("elsewhere"))
    assert status_extra._sink_database(redis_client, "elsewhere") == "eddy"  # no sink worker ever ran
    redis_client.set(sink_database_key("elsewhere"), "eddy_status_db")  # as a sink worker does at start
    out = io.StringIO()
    monkeypatch.setattr(status_extra, "console", Console(file=out, width=200))
    status_extra._print_alerts(chdb_backend, "elsewhere", status_extra._sink_database(redis_client, "elsewhere"))
    assert "elsewhere: last alerts" in out.getvalue() and "reset" in out.getvalue(), out.getvalue()
