"""Replay on real components: Avro events and labels on Tansu -> `eddy replay` -> ClickHouse
predictions under a new run id with a manifest in `runs`; `--verify` reports identical; a
back-test `--like` through another config; `eddy compare`; replay from the ClickHouse archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics import Sink, ensure_schema
from streams.cli.main import app
from streams.config import load_config
from streams.harness import produce_merged
from streams.kafka_io import read_topic
from streams.manifest import load_manifest
from streams.sink_rows import SinkRouter
from streams.wiring import Codecs, schema_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 1500
PIPE = "it_replay"


def eddy(stack, *args: str) -> str:
    e = stack.endpoints
    result = CliRunner().invoke(app, [*args, "--kafka", e.kafka, "--clickhouse", e.clickhouse, "--home", str(stack.home)]
                                if args[0] == "replay" else [*args, "--clickhouse", e.clickhouse, "--home", str(stack.home)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def count(clickhouse, run_id: str) -> dict[str, int]:
    rows = clickhouse.query(f"SELECT model, count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions FINAL "
                            f"WHERE run_id = '{run_id}' GROUP BY model ORDER BY model")
    return {r["model"]: int(r["n"]) for r in rows if int(r["n"]) == int(r["ids"])}


@pytest.fixture(scope="module")
def produced(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    cfg_path = write_config(tmp, PIPE, partitions=2)
    challenger = write_config(tmp, "it_replay_ch", partitions=2,
                              models={"champion": {"name": "tree", "model": "hoeffding_tree"}, "challengers": []})
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=3)
    produce_merged(cfg, stack, events, labels)
    # what the live sink agent does with these topics: archive the events, store the labels
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    ensure_schema(clickhouse, "eddy", cfg.sink.ttl_days)
    sink = Sink(clickhouse, "eddy", max_batch_rows=5000, max_buffered_rows=50_000)
    router = SinkRouter(cfg, codecs, sink)
    for topic in (cfg.topics.events, cfg.topics.labels):
        router.route([(m.topic, m.partition, m.offset, m.value) for m in read_topic(stack.endpoints.kafka, topic)], 0)
    sink.flush(0)
    return cfg_path, challenger, cfg, events, labels


@pytest.fixture(scope="module")
def replayed(stack, clickhouse, produced):
    cfg_path, *_ = produced
    out = eddy(stack, "replay", "-c", str(cfg_path), "--run-id", f"{PIPE}-r1")
    return out


def test_replay_writes_every_prediction_and_a_manifest(stack, clickhouse, produced, replayed):
    _cfg_path, _ch, cfg, _events, labels = produced
    assert count(clickhouse, f"{PIPE}-r1") == {"logreg": N, "tree": N, "baseline": N}
    m = load_manifest(clickhouse, "eddy", f"{PIPE}-r1")
    assert m.kind == "replay" and m.pipeline == PIPE and m.config_hash == cfg.digest()
    assert m.inputs["events"]["count"] == N and m.inputs["labels"]["count"] == len(labels)
    assert set(m.inputs["events"]["partitions"]) == {"0", "1"}
    assert m.inputs["result"]["predictions"] == 3 * N
    assert m.inputs["result"]["outcomes"]["learned"] == len(labels)
    assert {"river", "numpy", "fastavro"} <= set(m.packages) and m.seeds["models"] == 42
    assert m.schema_ids["events"] > 0
    assert "fingerprint" in replayed
    shown = eddy(stack, "runs", "show", f"{PIPE}-r1")
    assert "config_hash" in shown and m.config_hash in shown
    assert f"{PIPE}-r1" in eddy(stack, "runs", "ls", "--pipeline", PIPE)


def test_an_existing_run_id_is_refused(stack, produced, replayed):
    cfg_path, *_ = produced
    e = stack.endpoints
    result = CliRunner().invoke(app, ["replay", "-c", str(cfg_path), "--run-id", f"{PIPE}-r1", "--kafka", e.kafka,
                                      "--clickhouse", e.clickhouse, "--home", str(stack.home)])
    assert result.exit_code == 2 and "already exists" in result.output


def test_the_live_run_id_is_refused_even_with_force(stack, produced, replayed):
    """A replay writes under its own run id: under the live one (`<p>-live`, whose worker may not
    have started yet) its rows and the live sink's would replace each other by key."""
    cfg_path, *_ = produced
    e = stack.endpoints
    for extra in ([], ["--force"]):
        result = CliRunner().invoke(app, ["replay", "-c", str(cfg_path), "--run-id", f"{PIPE}-live", *extra,
                                          "--kafka", e.kafka, "--clickhouse", e.clickhouse, "--home", str(stack.home)])
        assert result.exit_code == 2 and "the live run's" in result.output, result.output


def test_a_live_sink_refuses_a_replays_run_id(stack, produced, replayed):
    from streams.exceptions import StreamsError
    from streams.manifest import live_manifest
    from streams.sinking import build_sink

    cfg = produced[2]
    with pytest.raises(StreamsError, match="is a replay run's"):
        build_sink(cfg, stack.endpoints.clickhouse, live_manifest(cfg, f"{PIPE}-r1", created_at=0))


def test_verify_reports_identical(stack, clickhouse, produced, replayed):
    out = eddy(stack, "replay", "--verify", f"{PIPE}-r1")
    assert "IDENTICAL" in out, out


def test_verify_names_the_first_difference(stack, clickhouse, produced, replayed):
    """A copy of the run with one stored prediction moved by 1e-9: verify exits 1 and names it."""
    from streams.manifest import Manifest, save_manifest

    run = f"{PIPE}-r1-tampered"
    m = load_manifest(clickhouse, "eddy", f"{PIPE}-r1")
    save_manifest(clickhouse, "eddy", Manifest(**{**m.__dict__, "run_id": run}))
    rows = clickhouse.query(
        "SELECT run_id, pipeline, model, model_version, role, shadow, event_id, key, "
        "toUnixTimestamp64Milli(event_ts) AS event_ts, toUnixTimestamp64Milli(served_ts) AS served_ts, latency_ms, "
        "prediction, predicted_label, features, segments, late, degraded "
        f"FROM eddy.predictions FINAL WHERE run_id = '{PIPE}-r1' ORDER BY model, event_id")
    victim = next(r for r in rows if r["model"] == "logreg" and r["event_id"].endswith("0000777"))
    for r in rows:
        r["run_id"] = run
    victim["prediction"] += 1e-9
    sink = Sink(clickhouse, "eddy", max_batch_rows=10_000, max_buffered_rows=50_000, dedup=False)
    sink.add("predictions", rows)
    sink.flush(0)
    e = stack.endpoints
    result = CliRunner().invoke(app, ["replay", "--verify", run, "--kafka", e.kafka, "--clickhouse", e.clickhouse,
                                      "--home", str(stack.home)])
    assert result.exit_code == 1, result.output
    assert "DIFFERENT" in result.output and victim["event_id"] in result.output and "prediction differs" in result.output


def test_two_replays_same_fingerprint(stack, clickhouse, produced, replayed):
    cfg_path, *_ = produced
    eddy(stack, "replay", "-c", str(cfg_path), "--run-id", f"{PIPE}-r1b")
    a = load_manifest(clickhouse, "eddy", f"{PIPE}-r1").inputs["result"]["digest"]
    b = load_manifest(clickhouse, "eddy", f"{PIPE}-r1b").inputs["result"]["digest"]
    assert a == b


def test_backtest_like_and_compare(stack, clickhouse, produced, replayed):
    _cfg, challenger, *_ = produced
    eddy(stack, "replay", "-c", str(challenger), "--run-id", f"{PIPE}-r2", "--like", f"{PIPE}-r1")
    m2 = load_manifest(clickhouse, "eddy", f"{PIPE}-r2")
    m1 = load_manifest(clickhouse, "eddy", f"{PIPE}-r1")
    assert m2.like_run == f"{PIPE}-r1" and m2.inputs["events"] == m1.inputs["events"]
    assert count(clickhouse, f"{PIPE}-r2") == {"tree": N, "baseline": N}
    out = eddy(stack, "compare", f"{PIPE}-r1", f"{PIPE}-r2", "--bootstrap", "100")
    for word in ("accuracy", "log_loss", "roc_auc", "channel", "country", "delong", "bootstrap"):
        assert word in out, out
    # the same table in the HTML report of run r1
    cfg_path = produced[0]
    html_path = Path(str(cfg_path)).parent / "backtest.html"
    eddy(stack, "report", "-c", str(cfg_path), "--run-id", f"{PIPE}-r1", "--compare", f"{PIPE}-r2",
         "--bootstrap", "100", "-o", str(html_path))
    html = html_path.read_text()
    assert f"Back-test: {PIPE}-r2 (tree) vs {PIPE}-r1 (logreg)" in html
    assert "roc_auc: B - A with 95% CI" in html and "delong" in html and "country" in html


def test_replay_from_the_clickhouse_archive(stack, clickhouse, produced, replayed):
    cfg_path, *_ = produced
    eddy(stack, "replay", "-c", str(cfg_path), "--run-id", f"{PIPE}-ch", "--source", "clickhouse")
    m = load_manifest(clickhouse, "eddy", f"{PIPE}-ch")
    assert m.inputs["source"] == "clickhouse" and m.inputs["events"]["count"] == N
    assert count(clickhouse, f"{PIPE}-ch") == {"logreg": N, "tree": N, "baseline": N}
    assert "IDENTICAL" in eddy(stack, "replay", "--verify", f"{PIPE}-ch")


def test_time_range(stack, clickhouse, produced, replayed):
    cfg_path, _ch, _cfg, events, _labels = produced
    lo, hi = events[100]["ts"], events[400]["ts"]
    topic = f"{PIPE}.replay-scores"
    eddy(stack, "replay", "-c", str(cfg_path), "--run-id", f"{PIPE}-slice", "--from", str(lo), "--to", str(hi),
         "--scores-topic", topic)
    want = sum(lo <= e["ts"] < hi for e in events)
    assert count(clickhouse, f"{PIPE}-slice")["logreg"] == want
    codecs = Codecs.build(load_config(cfg_path), schema_registry(None, stack.home))
    published = [codecs.codec.decode(m.value) for m in read_topic(stack.endpoints.kafka, topic)]
    assert len(published) == 3 * want and {r["run_id"] for r in published} == {f"{PIPE}-slice"}
    m = load_manifest(clickhouse, "eddy", f"{PIPE}-slice")
    assert m.inputs["from_ms"] == lo and m.inputs["labels"]["of_selected_events"] is True
    assert json.dumps(m.inputs)  # JSON-able
