"""Injected concept drift on real components: the labels flip after FLIP events; the slow-to-adapt
champion's loss rises, ADWIN raises an alert (logged in ClickHouse `alerts`), the promote action
makes the fast challenger champion in the registry, and the scorer — another process — then
publishes its champion scores on <p>.scores from the challenger."""

from __future__ import annotations

import statistics
import time

import pytest

from streams.config import load_config
from streams.harness import WorkerGroup, counters, produce_merged, wait_for_counters, wait_until
from streams.kafka_io import read_topic
from streams.wiring import Codecs, model_registry, redis_client, schema_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

N = 2600
FLIP = 1200
TAIL = 300
DELAY_MS = 1500
REFRESH = 0.5

MODELS = {
    "task": "binary",
    "seed": 42,
    # A Hoeffding tree learns the rule well but its leaf counts take hundreds of labels to turn;
    # a logistic regression with a large step adapts within tens.
    "champion": {"name": "slow", "model": "hoeffding_tree"},
    "challengers": [{"name": "fast", "model": "logreg", "params": {"lr": 0.1}}],
    # grace_period: no alert while the young models' losses settle (before the flip);
    # cooldown: no flapping back right after a promotion.
    "drift": {"action": "promote", "recent_window": 50, "grace_period": 150, "cooldown": "60s"},
}


def drifting_stream(n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Payments labelled 1 when the amount is above the median; the rule flips after FLIP events."""
    events, _ = fraud_generator().generate(n, seed=seed)
    median = statistics.median(e["amount"] for e in events)
    labels = []
    for i, e in enumerate(events):
        y = float(e["amount"] > median)
        labels.append({"event_id": e["event_id"], "label": 1.0 - y if i >= FLIP else y, "ts": e["ts"] + DELAY_MS})
    return events, labels


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift")
    cfg_path = write_config(tmp, "it_drift", partitions=2, models=MODELS,
                            worker={"batch_size": 50, "model_refresh": REFRESH})
    cfg = load_config(cfg_path)
    events, labels = drifting_stream(N + TAIL, seed=41)
    events, tail = events[:N], events[N:]
    labels = labels[:N]
    registry = model_registry(cfg, redis_client(stack.endpoints.redis))
    out: dict = dict(cfg=cfg, registry=registry, tail=tail)
    with WorkerGroup.per_role(cfg_path, stack, env={}) as group:
        def learned(n: int) -> None:
            wait_for_counters(cfg, stack.endpoints.redis, group, labels=n, timeout=180)

        # Drift is judged on the served predictions: the scorer must be consuming before the
        # stream starts. Otherwise a learner that joins first reads the labels before their events
        # are scored (all early), learns them in one burst, and the pre-flip losses all come from
        # untrained versions (no loss rise left to see at the flip).
        group.wait_consuming(cfg)

        # before the flip (labels up to event FLIP's time), at a pace the learner keeps up with and
        # slow enough that the scorer (which keeps up in real time) serves trained versions
        # before the flip: checkpoints come every worker.publish_interval, labels DELAY_MS late
        t_flip = events[FLIP]["ts"]
        pre = [lab for lab in labels if lab["ts"] <= t_flip]
        produce_merged(cfg, stack, events[:FLIP], pre, rate=200.0)
        learned(len(pre))
        out["roles_before"] = registry.roles()
        # after the flip
        produce_merged(cfg, stack, events[FLIP:], [lab for lab in labels if lab["ts"] > t_flip], rate=500.0)
        learned(len(labels))
        try:
            wait_until(lambda: registry.roles().get("fast") == "champion", 30, "the challenger to be promoted")
        except Exception as exc:  # say why: the alerts so far and the roles
            alerts = clickhouse.query(f"SELECT ts, model, kind, action, detail FROM eddy.alerts "
                                      f"WHERE pipeline = '{cfg.pipeline}' ORDER BY ts")
            raise AssertionError(f"{exc}; roles {registry.roles()}, before {out['roles_before']}, "
                                 f"alerts {alerts}\n{group.log_tail()}") from exc
        out["roles_after"] = registry.roles()
        # events after the promotion: scored by the other process with the new champion
        time.sleep(4 * REFRESH + 1)
        produce_merged(cfg, stack, tail, [])
        wait_until(lambda: counters(cfg, stack.endpoints.redis).get("scored", 0) >= N + TAIL, 60, "the tail scored")

        def sunk() -> bool:
            return clickhouse.query(f"SELECT count() AS n FROM eddy.alerts WHERE pipeline = '{cfg.pipeline}' "
                                    f"AND action = 'promote'")[0]["n"] >= 1
        wait_until(sunk, 60, "the alert in ClickHouse")
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    out["scores"] = [codecs.codec.decode(m.value) for m in read_topic(stack.endpoints.kafka, cfg.topics.scores)]
    return out


def test_drift_raises_an_alert_logged_in_clickhouse(run, clickhouse):
    rows = clickhouse.query(f"SELECT model, kind, action, detail FROM eddy.alerts WHERE pipeline = "
                            f"'{run['cfg'].pipeline}' AND action != 'none'")
    assert [(r["model"], r["kind"], r["action"]) for r in rows] == [("slow", "loss_drift", "promote")]
    assert "rose" in rows[0]["detail"] and "promoted 'fast'" in rows[0]["detail"]


def test_challenger_becomes_champion_in_the_registry(run, clickhouse):
    assert run["roles_after"] == {"fast": "champion", "slow": "challenger", "baseline": "baseline"}
    events = clickhouse.query(f"SELECT model, action FROM eddy.model_events WHERE pipeline = '{run['cfg'].pipeline}' "
                              f"AND action IN ('promote', 'demote') ORDER BY model")
    assert {(e["model"], e["action"]) for e in events} == {("fast", "promote"), ("slow", "demote")}


def test_scores_after_the_promotion_come_from_the_challenger(run):
    tail = {e["event_id"] for e in run["tail"]}
    scores = [s for s in run["scores"] if s["event_id"] in tail]
    assert len({s["event_id"] for s in scores}) == len(tail)
    assert {(s["model"], s["role"]) for s in scores} == {("fast", "champion")}
    fast_versions = {v.version for v in run["registry"].list() if v.name == "fast"}
    assert {s["model_version"] for s in scores} <= fast_versions
    first = [s for s in run["scores"] if s["event_id"] not in tail]
    assert {s["model"] for s in first[:100]} == {"slow"}  # before: the configured champion
