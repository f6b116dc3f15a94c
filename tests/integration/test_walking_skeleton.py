"""One event's whole trip on real components: Avro on Tansu -> Faust worker (features in Redis,
River models) -> scores topic -> ClickHouse, and labels joined to what was served."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.app import ROLES, app_id
from streams.config import load_config
from streams.harness import WorkerProcess, counters, produce_merged, wait_for_counters, wait_until
from tests.features.reference import ReferenceEngine
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 3000


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    """Run the fraud pipeline once with a single all-roles worker on one partition."""
    tmp = tmp_path_factory.mktemp("skeleton")
    # a checkpoint (so a version the scorer serves) after about every batch of labels: the stream
    # lasts 2 s, and "learning helps" is measured on what was served
    cfg_path = write_config(tmp, "it_skeleton", partitions=1, worker={"publish_interval": 0.05})
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=11)
    with WorkerProcess(cfg_path, stack) as worker:
        def consuming() -> bool:  # both the events feed and Faust's labels consumer hold their partition
            assert worker.alive(), worker.log_tail()
            return worker.consuming([cfg.topics.events, cfg.topics.labels])

        wait_until(consuming, 120, "the worker to join its consumer groups")
        # At a live-like rate (not a backlog), so labels are learned while later events are scored.
        produce_merged(cfg, stack, events, labels, rate=1500)

        wait_for_counters(cfg, stack.endpoints.redis, worker, scored=N, labels=N)
        n_models = 3

        def sunk() -> bool:
            return clickhouse.query(
                f"SELECT count() AS n FROM eddy.predictions FINAL WHERE pipeline = '{cfg.pipeline}'"
            )[0]["n"] >= N * n_models and clickhouse.query(
                f"SELECT count() AS n FROM eddy.labels FINAL WHERE pipeline = '{cfg.pipeline}'"
            )[0]["n"] >= N

        wait_until(sunk, 120, "the sink to write every score and label")
        final = counters(cfg, stack.endpoints.redis)
    return cfg, events, labels, final


def test_one_score_per_event_in_clickhouse(run, clickhouse):
    cfg, events, _labels, _c = run
    rows = clickhouse.query(
        f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions "
        f"WHERE pipeline = '{cfg.pipeline}' AND model = 'logreg'"
    )
    assert rows == [{"n": len(events), "ids": len(events)}]
    ids = {r["event_id"] for r in clickhouse.query(f"SELECT event_id FROM eddy.scores WHERE pipeline = '{cfg.pipeline}'")}
    assert ids == {e["event_id"] for e in events}


def test_every_label_joined_and_learned(run, clickhouse):
    cfg, _events, labels, c = run
    assert c["labels_learned"] == len(labels)
    assert c.get("labels_orphan", 0) == 0
    joined = clickhouse.query(
        f"SELECT count() AS n FROM eddy.labelled_predictions WHERE pipeline = '{cfg.pipeline}' AND model = 'logreg'"
    )
    assert joined == [{"n": len(labels)}]


def test_scores_name_model_versions_and_learning_helps(run, clickhouse):
    cfg, events, *_ = run
    half = sorted(e["ts"] for e in events)[len(events) // 2]
    rows = clickhouse.query(
        f"SELECT max(model_version) AS v, arrayAUC(groupArray(prediction), groupArray(y)) AS auc, "
        f"arrayAUC(groupArrayIf(prediction, toUnixTimestamp64Milli(event_ts) >= {half}), "
        f"groupArrayIf(y, toUnixTimestamp64Milli(event_ts) >= {half})) AS late_auc "
        f"FROM eddy.labelled_predictions WHERE pipeline = '{cfg.pipeline}' AND model = 'logreg'"
    )
    assert rows[0]["v"] > 1  # the learner published versions that scorers used
    # prequential AUC of the second half of the stream, served by versions that learned the first
    # half (the first half's depends on how soon the first versions reach the scorer under load)
    assert rows[0]["late_auc"] > 0.75, rows
    assert rows[0]["auc"] > 0.6, rows


def test_served_features_equal_the_reference(run, clickhouse):
    """Issue 4: the features a running worker served equal the slow reference for every event."""
    cfg, events, _labels, _c = run
    ref = ReferenceEngine(cfg.features, cfg.event.time_field, cfg.event.id_field)
    values, _late, _seen = ref.process(events)  # one partition: processing order = produce order
    served = {r["event_id"]: r["features"] for r in clickhouse.query(
        f"SELECT event_id, features FROM eddy.scores WHERE pipeline = '{cfg.pipeline}'")}
    names = cfg.features.names
    mismatches = []
    for ev, row in zip(events, values):
        got = served[ev["event_id"]]
        for name, want in zip(names, row):
            if abs(got[name] - want) > 1e-9 * max(1.0, abs(want)):
                mismatches.append((ev["event_id"], name, got[name], want))
    assert not mismatches, mismatches[:10]


def test_online_lookup_equals_the_reference(run, stack):
    """`eddy features get` / OnlineFeatures: a key's current values equal the reference's."""
    from typer.testing import CliRunner

    from streams.cli.main import app

    cfg, events, _labels, _c = run
    ref = ReferenceEngine(cfg.features, cfg.event.time_field, cfg.event.id_field)
    ref.process(events)
    now = events[-1]["ts"] + 1
    for entity in ("card_id", "merchant_id"):
        key = events[-1][entity]
        result = CliRunner().invoke(app, ["features", "get", entity, key, "-c", str(cfg.base_dir) + f"/{cfg.pipeline}.yaml",
                                          "--redis", stack.endpoints.redis, "--at", str(now), "--json"])
        assert result.exit_code == 0, result.output
        import json

        got = json.loads(result.output)
        want = ref.lookup(entity, key, now)
        assert got.keys() == want.keys()
        for name in want:
            assert abs(got[name] - want[name]) <= 1e-9 * max(1.0, abs(want[name])), (entity, name)


def test_report_renders_from_the_run(run, stack, tmp_path):
    from typer.testing import CliRunner

    from streams.cli.main import app

    cfg, *_ = run
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "-c", str(cfg.base_dir) + f"/{cfg.pipeline}.yaml", "-o", str(out),
                                      "--clickhouse", stack.endpoints.clickhouse])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<svg" in html and "logreg" in html


def test_live_run_records_a_manifest(run, clickhouse):
    cfg, *_ = run
    rows = clickhouse.query(f"SELECT kind, config_hash FROM eddy.runs FINAL WHERE run_id = '{cfg.pipeline}-live'")
    assert rows == [{"kind": "live", "config_hash": cfg.digest()}]


def test_faust_keeps_its_data_folder_in_the_stack_home(run, stack):
    """Not `<app id>-data` in the worker's cwd (the checkout), where Faust puts it by default."""
    cfg = run[0]
    the_id = app_id(cfg.pipeline, frozenset(ROLES))
    assert (stack.home / "faust" / the_id).is_dir()
    assert not Path(f"{the_id}-data").exists()
