"""`eddy models ls|rollback|promote` against a running worker: the change is made in the registry,
published on <p>.model-events (and sunk to ClickHouse), and the worker's next scores follow it —
a rollback serves the old content under a new version, a promotion changes the champion; the
learner then keeps learning on top of the rolled-back model and never undoes the promotion."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from learners import predict
from streams.cli.main import app
from streams.config import load_config
from streams.harness import WorkerProcess, counters, labels_done, produce_merged, wait_for_counters, wait_until
from streams.snapshots import RedisSnapshots
from streams.wiring import model_registry, namespace, redis_client
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 2400
REFRESH = 0.5


def cut(events: list[dict], labels: list[dict], lo: int, hi: int, with_labels: bool) -> tuple[list, list]:
    """Events [lo, hi) and (optionally) the labels that come after event lo-1 and up to event hi."""
    t_lo = events[lo]["ts"] if lo else -1
    t_hi = events[hi]["ts"] if hi < len(events) else float("inf")
    labs = [lab for lab in labels if t_lo < lab["ts"] <= t_hi] if with_labels else []
    return events[lo:hi], labs


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models-cli")
    # a checkpoint (version) every 100 labels, so part A leaves several versions to roll back over
    cfg_path = write_config(tmp, "it_models_cli", partitions=1,
                            worker={"batch_size": 100, "model_refresh": REFRESH, "publish_every": 100})
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=31)
    client = redis_client(stack.endpoints.redis)
    registry = model_registry(cfg, client)
    snapshots = RedisSnapshots(client, namespace(cfg), cfg.labels.snapshot_ttl)
    runner = CliRunner()
    env = stack.env()

    def eddy(*args: str):
        result = runner.invoke(app, ["models", *args, "-c", str(cfg_path)], env=env)
        return result

    def scored(n: int, worker: WorkerProcess) -> None:
        wait_for_counters(cfg, stack.endpoints.redis, worker, scored=n, timeout=120)

    out: dict = dict(cfg=cfg, registry=registry)
    with WorkerProcess(cfg_path, stack, stack.home / "logs" / "models-cli.log") as worker:
        ev_a, lab_a = cut(events, labels, 0, 1200, True)
        produce_merged(cfg, stack, ev_a, lab_a)
        scored(1200, worker)
        wait_until(lambda: labels_done(counters(cfg, stack.endpoints.redis)) >= len(lab_a), 120, "part A learned")

        def checkpointed() -> bool:  # checkpoints trail learning by up to worker.publish_interval
            counts = registry.snapshot("logreg").meta.get("counts", {})
            return sum(counts.get(k, 0) for k in ("learned", "orphan", "duplicate")) >= len(lab_a)

        wait_until(checkpointed, 60, "part A in a checkpoint")
        out["ls"] = eddy("ls")

        # rollback: no labels meanwhile, so the worker serves exactly the rolled-back version
        cur = registry.current_version("logreg")
        target = cur - 3
        out["rollback"] = eddy("rollback", "logreg", str(target))
        out["bad_rollback"] = eddy("rollback", "logreg", "999999")
        out.update(before_rollback=cur, target=target, rolled=registry.current_version("logreg"))
        out["target_model"] = registry.load("logreg", target)
        time.sleep(4 * REFRESH + 1)
        ev_b, _ = cut(events, labels, 1200, 1500, False)
        produce_merged(cfg, stack, ev_b, [])
        scored(1500, worker)
        out["snaps_b"] = snapshots.get_many([e["event_id"] for e in ev_b])

        # promote the challenger
        out["promote"] = eddy("promote", "tree")
        time.sleep(4 * REFRESH + 1)
        ev_c, _ = cut(events, labels, 1500, 1800, False)
        produce_merged(cfg, stack, ev_c, [])
        scored(1800, worker)
        out["snaps_c"] = snapshots.get_many([e["event_id"] for e in ev_c])
        out["ids_c"] = [e["event_id"] for e in ev_c]

        # the rest, with every remaining label: the learner learns on, over the CLI's changes
        ev_d, _ = cut(events, labels, 1800, N, False)
        lab_d = [lab for lab in labels if lab["ts"] > events[1199]["ts"]]
        produce_merged(cfg, stack, ev_d, lab_d)
        scored(N, worker)
        wait_until(lambda: labels_done(counters(cfg, stack.endpoints.redis)) >= len(labels), 120, "every label learned")
        out["final_counters"] = counters(cfg, stack.endpoints.redis)
        out["ls_after"] = eddy("ls", "--current")

        def sunk() -> bool:
            n = clickhouse.query(f"SELECT uniqExact(event_id) AS n FROM eddy.predictions WHERE pipeline = '{cfg.pipeline}' "
                                 f"AND shadow = 0")[0]["n"]
            ev = clickhouse.query(f"SELECT count() AS n FROM eddy.model_events WHERE pipeline = '{cfg.pipeline}' "
                                  f"AND action IN ('rollback', 'promote', 'demote')")[0]["n"]
            return n >= N and ev >= 3

        wait_until(sunk, 120, "the sink to write the scores and the CLI's model events")
        out["worker_log"] = worker.log_tail(20000)
    return out


def test_ls_lists_versions_with_roles(run):
    res = run["ls"]
    assert res.exit_code == 0, res.output
    for word in ("model", "version", "role", "created", "action", "current", "logreg", "tree", "baseline",
                 "champion", "challenger", "created", "snapshot"):
        assert word in res.output
    after = run["ls_after"]
    assert after.exit_code == 0, after.output
    lines = [ln for ln in after.output.splitlines() if "logreg" in ln or "tree" in ln or "baseline" in ln]
    assert len(lines) == 3  # --current: one row per model


def test_rollback_is_a_new_version_that_the_worker_serves(run):
    res = run["rollback"]
    assert res.exit_code == 0, res.output
    rolled, target = run["rolled"], run["target"]
    assert rolled == run["before_rollback"] + 1 and f"v{rolled} now serves the content of v{target}" in res.output
    cfg = run["cfg"]
    names = cfg.features.names
    for snap in run["snaps_b"]:
        assert snap is not None
        served = {s.model: s for s in snap.served}["logreg"]
        assert served.version == rolled
        want = predict(cfg.models.task, run["target_model"], snap.x(names)).score
        assert served.prediction == want  # the old content, bit for bit


def test_rollback_to_a_missing_version_says_what_to_do(run):
    res = run["bad_rollback"]
    assert res.exit_code == 2
    assert "has no version 999999" in res.output and "eddy models ls" in res.output


def test_promote_changes_the_champion_of_the_running_worker(run, clickhouse):
    res = run["promote"]
    assert res.exit_code == 0, res.output
    assert "tree is champion (was logreg)" in res.output
    for snap in run["snaps_c"]:
        roles = {s.model: s.role for s in snap.served}
        assert roles["tree"] == "champion" and roles["logreg"] == "challenger"
    ids = ", ".join(f"'{e}'" for e in run["ids_c"])
    rows = clickhouse.query(f"SELECT model, count() AS n FROM eddy.predictions FINAL WHERE pipeline = "
                            f"'{run['cfg'].pipeline}' AND shadow = 0 AND event_id IN ({ids}) GROUP BY model")
    assert rows == [{"model": "tree", "n": len(run["ids_c"])}]


def test_learner_keeps_the_cli_changes(run):
    reg = run["registry"]
    assert reg.roles() == {"tree": "champion", "logreg": "challenger", "baseline": "baseline"}
    assert reg.current_version("logreg") > run["rolled"]  # learned on top of the rollback
    c = run["final_counters"]
    assert c["labels_learned"] >= 1  # learning went on after the rollback
    assert "Traceback" not in run["worker_log"]


def test_cli_changes_are_model_events(run, clickhouse):
    rows = clickhouse.query(
        f"SELECT model, version, action FROM eddy.model_events WHERE pipeline = '{run['cfg'].pipeline}' "
        f"AND action IN ('rollback', 'promote', 'demote') ORDER BY ts, model")
    assert {(r["model"], r["action"]) for r in rows} == {("logreg", "rollback"), ("tree", "promote"), ("logreg", "demote")}
    assert {"model": "logreg", "version": run["rolled"], "action": "rollback"} in rows
