"""streams.observability without Kafka: metrics bookkeeping, the HTTP endpoints, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from schemas import DecodeFailure
from streams.observability import (
    JsonFormatter,
    ObservabilityServer,
    WorkerMetrics,
    broker_check,
    dashboard_html,
    lifecycle,
    logging_config,
    run_checks,
    watch_redis,
)


class FakeClock:
    """A settable wall clock (seconds) for the rolling windows."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeOutcome:
    """Stands in for learners.LearnOutcome (status + per-model losses)."""

    status: str
    losses: dict


def score_rec(model: str, pred: float = 0.5, country: str = "FR") -> dict:
    return {"model": model, "prediction": pred, "predicted_label": pred > 0.5, "segments": {"country": country}}


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_score_batches_count_what_was_published() -> None:
    clock = FakeClock()
    m = WorkerMetrics("p", ["score"], clock=clock)
    m.observe_score_batch(4, [score_rec("lr", 0.9), score_rec("lr", 0.1, "DE")], [score_rec("nb"), score_rec("nb")],
                          [DecodeFailure("bad_magic", "first byte"), {"error_class": "duplicate", "reason": "seen"}],
                          scored=2, late=1, stages={"decode": 0.001, "score": 0.01},
                          positions={("p.events", 0): 41, ("p.events", 1): 7})
    clock.t += 1
    m.observe_score_batch(1, [score_rec("lr", 0.7)], [score_rec("nb")], scored=1)
    assert m.value("eddy_events_in_total") == 5
    assert m.value("eddy_events_scored_total") == 3
    assert m.value("eddy_predictions_total", model="lr") == 3
    assert m.value("eddy_predictions_total", model="nb") == 3
    assert m.value("eddy_dlq_total", source="events", error_class="bad_magic") == 1
    assert m.value("eddy_dlq_total", source="events", error_class="duplicate") == 1
    assert m.value("eddy_late_events_total") == 1
    assert m.value("eddy_batch_size_count", agent="score") == 2
    assert m.value("eddy_stage_seconds_count", stage="decode") == 1
    s = m.summary()
    assert s["totals"]["events_in"] == 5 and s["totals"]["dlq"] == 2
    assert s["throughput"]["events_per_s"] == pytest.approx(0.5)
    fr = next(v for v in s["segments"]["country"] if v["value"] == "FR")
    assert fr["n"] == 2 and fr["mean_score"] == pytest.approx(0.8) and fr["positive_rate"] == pytest.approx(1.0)
    assert {d["error_class"] for d in s["dlq_reasons"]} == {"bad_magic", "duplicate"}
    assert s["latency_ms"]["decode"]["p50"] == pytest.approx(1.0)
    json.dumps(s)  # the dashboard's payload is plain JSON


def test_lag_uses_processed_positions_then_committed() -> None:
    m = WorkerMetrics("p", ["score"])
    m.set_lag("p.events", 0, highwater=10, committed=None)  # nothing known yet: no sample
    assert m.value("eddy_consumer_lag", topic="p.events", partition="0") is None
    m.set_lag("p.events", 0, highwater=10, committed=4)
    assert m.value("eddy_consumer_lag", topic="p.events", partition="0") == 6
    m.observe_score_batch(3, [], [], positions={("p.events", 0): 8})
    m.set_lag("p.events", 0, highwater=10, committed=4)
    assert m.value("eddy_consumer_lag", topic="p.events", partition="0") == 1
    assert m.summary()["lag"] == [{"topic": "p.events", "partition": 0, "highwater": 10, "position": 9, "lag": 1}]


def test_learn_batches_models_and_alerts(caplog: pytest.LogCaptureFixture) -> None:
    m = WorkerMetrics("p", ["learn"])
    with caplog.at_level(logging.INFO, logger="eddy.lifecycle"):
        m.observe_learn_batch(3, [FakeOutcome("learned", {"lr": 0.2}), FakeOutcome("learned", {"lr": 0.4}),
                                  FakeOutcome("early", {})],
                              alerts=[{"model": "lr", "kind": "loss_drift", "ts": 5, "value": 0.3}],
                              dlq=[DecodeFailure("truncated", "short")], n_dlq=2)
        m.set_models({"lr": 3, "base": 3}, {"lr": "champion", "base": "baseline"}, {"lr": {"n": 2.0, "log_loss": 0.3}})
        m.set_models({"lr": 3, "base": 3}, {"lr": "champion", "base": "baseline"}, {})  # unchanged: not logged again
    assert m.value("eddy_labels_in_total") == 3
    assert m.value("eddy_labels_total", status="learned") == 2
    assert m.value("eddy_drift_alerts_total", model="lr", kind="loss_drift") == 1
    assert m.value("eddy_dlq_total", source="labels", error_class="truncated") == 1
    assert m.value("eddy_dlq_total", source="labels", error_class="rule_violation") == 1
    assert m.value("eddy_model_version", model="lr") == 3
    assert m.value("eddy_model_champion", model="lr") == 1 and m.value("eddy_model_champion", model="base") == 0
    assert m.value("eddy_model_metric", model="lr", metric="log_loss") == pytest.approx(0.3)
    lr = next(x for x in m.summary()["models"] if x["name"] == "lr")
    assert lr["rolling_loss"] == pytest.approx(0.3) and lr["version"] == 3
    events = [r.event for r in caplog.records]
    assert events.count("drift_alert") == 1 and events.count("model_version") == 2


def test_outages_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    m = WorkerMetrics("p", ["score", "sink"])

    def flaky() -> None:
        raise RuntimeError("state store failed") from redis.ConnectionError("refused")

    watched = watch_redis(m, "score", flaky)
    with caplog.at_level(logging.INFO, logger="eddy.lifecycle"):
        for _ in range(3):
            with pytest.raises(RuntimeError):
                watched()
        assert m.summary()["outages"] == {"redis": "score: RuntimeError"}
        m.observe_score_batch(1, [], [])
        m.clickhouse_error("down")
        m.observe_sink_batch(["p.scores", "p.scores"], flush_s=0.01)
    assert m.value("eddy_redis_errors_total", step="score") == 3
    assert m.value("eddy_clickhouse_errors_total") == 1
    assert m.value("eddy_outage", service="redis") == 0
    assert m.value("eddy_sink_records_total", topic="p.scores") == 2
    assert [r.event for r in caplog.records] == ["outage_begin", "outage_end", "outage_begin", "outage_end"]
    with pytest.raises(ValueError):  # not an outage: not counted
        watch_redis(m, "score", lambda: int("x"))()
    assert m.value("eddy_redis_errors_total", step="score") == 3


def test_a_batch_that_succeeded_before_an_outage_does_not_end_it(caplog: pytest.LogCaptureFixture) -> None:
    """A pipelined score batch's tail is observed after the next batch already failed: it must
    not log the outage's end in the same breath as its beginning."""
    now = [100.0]
    m = WorkerMetrics("p", ["score"], clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="eddy.lifecycle"):
        m.redis_error("score", redis.ConnectionError("refused"))
        now[0] = 100.5
        m.observe_score_batch(1, [], [], redis_ok_at=99.9)  # the previous batch's tail
        assert m.summary()["outages"] == {"redis": "score: ConnectionError"}
        now[0] = 104.0
        m.observe_score_batch(1, [], [], redis_ok_at=103.9)  # a batch that got through after it
    assert m.summary()["outages"] == {}
    assert [r.event for r in caplog.records] == ["outage_begin", "outage_end"]


def test_server_endpoints() -> None:
    m = WorkerMetrics("shop", ["score"])
    m.observe_score_batch(2, [score_rec("lr")], [], scored=1)
    checks = {"fine": lambda: None, "broker": broker_check(f"127.0.0.1:{closed_port()}", timeout=0.5)}
    with ObservabilityServer(m, checks=checks) as srv:
        status, body, ctype = get(srv.url + "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        names = {s.name for f in text_string_to_metric_families(body.decode()) for s in f.samples}
        assert {"eddy_events_in_total", "eddy_predictions_total", "eddy_worker_up"} <= names
        assert json.loads(get(srv.url + "/health")[1]) == {"status": "ok", "pipeline": "shop"}
        status, body, _ = get(srv.url + "/ready")
        report = json.loads(body)
        assert status == 503 and report["ready"] is False
        assert report["checks"]["fine"] == {"ok": True} and not report["checks"]["broker"]["ok"]
        status, body, ctype = get(srv.url + "/dashboard")
        assert status == 200 and ctype.startswith("text/html") and b"fetch(" in body
        assert json.loads(get(srv.url + "/api/summary")[1])["totals"]["events_in"] == 2
        assert get(srv.url + "/nope")[0] == 404
    srv_ok = ObservabilityServer(m, checks={"fine": lambda: None}).start()
    try:
        assert get(srv_ok.url + "/ready")[0] == 200
    finally:
        srv_ok.stop()


def test_readiness_redacts_secrets() -> None:
    def bad() -> None:
        raise ConnectionError("cannot reach redis://:hunter2@db:6379/0")

    ok, report = run_checks({"redis": bad})
    assert not ok and "hunter2" not in report["redis"]["error"] and "***" in report["redis"]["error"]


def test_json_logs_are_one_object_per_line_and_redacted() -> None:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    lg = logging.getLogger("eddy.lifecycle")
    lg.addHandler(handler)
    old = lg.level
    lg.setLevel(logging.INFO)
    try:
        lifecycle("start", pipeline="p", redis="redis://:s3cret@h:1/0", roles=["score"])
    finally:
        lg.removeHandler(handler)
        lg.setLevel(old)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["event"] == "start" and rec["roles"] == ["score"] and rec["level"] == "info"
    assert "s3cret" not in lines[0]


def test_logging_config() -> None:
    assert logging_config("text") is None
    cfg = logging_config("json", "debug")
    assert cfg["loggers"]["eddy"]["level"] == "DEBUG" and cfg["root"]["level"] == "WARNING"
    with pytest.raises(ValueError, match="use one of"):
        logging_config("xml")


def test_dashboard_escapes_the_pipeline_name() -> None:
    page = dashboard_html("<script>x</script>", refresh_ms=250)
    assert "<script>x</script>" not in page and "const REFRESH = 250;" in page


def test_model_version_lines_are_throttled(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    m = WorkerMetrics("p", ["learn"], clock=clock, version_log_every=60)
    with caplog.at_level(logging.INFO, logger="eddy.lifecycle"):
        for v in range(1, 11):  # ten versions within ten seconds: one line
            m.set_models({"lr": v}, {"lr": "champion"})
            clock.t += 1
        m.set_models({"lr": 10}, {"lr": "challenger"})  # a role change is always logged
        clock.t += 60
        m.set_models({"lr": 11}, {"lr": "challenger"})
    assert [(r.event, r.version, r.role) for r in caplog.records] == [
        ("model_version", 1, "champion"), ("model_version", 10, "challenger"), ("model_version", 11, "challenger")]
    assert m.value("eddy_model_version", model="lr") == 11


def test_worker_cli_has_the_observability_flags() -> None:
    from typer.testing import CliRunner

    from streams.cli.main import app

    result = CliRunner().invoke(app, ["worker", "--help"])
    for flag in ("--metrics-port", "--metrics-host", "--log-format", "EDDY_METRICS_PORT", "EDDY_LOG_FORMAT"):
        assert flag in result.output, flag
