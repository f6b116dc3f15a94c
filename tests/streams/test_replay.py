"""Replay unit tests (no services): order, determinism, primed features, orphans, selection, compare."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import load_config
from streams.replay import Item, PredictionDigest, ReplayLoop, merge_inputs
from streams.replay.compare import accuracy, compare_arrays, log_loss, roc_auc
from streams.replay.inputs import Selection, parse_bound
from streams.replay.snapshots import ReplaySnapshots
from streams.wiring import memory_processor
from tests.integration.fixtures import FRAUD, fraud_generator

FRAUD_CFG = load_config(FRAUD / "config.yaml")


def fraud_items(n: int = 3000, seed: int = 5, bad: bool = False) -> list[Item]:
    events, labels = fraud_generator().generate(n, seed=seed)
    if bad:  # rule violations and unprocessable events go to the DLQ, never into the state
        events[10] = {**events[10], "amount": -5.0}
        events[20] = {**events[20], "channel": "carrier-pigeon"}
        events[30] = {k: v for k, v in events[30].items() if k != "card_id"}
        events[40] = {**events[40], "event_id": events[39]["event_id"]}  # a duplicate id
    evs = [Item("event", e["ts"], i % 3, i, dict(e)) for i, e in enumerate(events)]
    labs = [Item("label", lab["ts"], 0, i, dict(lab)) for i, lab in enumerate(labels)]
    return merge_inputs(evs, labs)


def replay_digest(cfg=FRAUD_CFG, items=None, **kw) -> tuple[str, object]:  # noqa: ANN001
    digest = PredictionDigest()
    stats = ReplayLoop(memory_processor(cfg, "t"), on_scores=digest.add_records, **kw).run(items or fraud_items())
    return digest.hexdigest(), stats


# ------------------------------------------------------------------ order
def test_label_at_the_same_ts_goes_first_and_ties_keep_topic_order():
    evs = [Item("event", 5, 1, 0, {"id": "p1"}), Item("event", 5, 0, 7, {"id": "p0"}), Item("event", 4, 2, 3, {"id": "x"})]
    labs = [Item("label", 5, 0, 2, {"event_id": "b"}), Item("label", 5, 0, 1, {"event_id": "a"})]
    got = [(i.kind, i.record.get("id") or i.record["event_id"]) for i in merge_inputs(evs, labs)]
    assert got == [("event", "x"), ("label", "a"), ("label", "b"), ("event", "p0"), ("event", "p1")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 3)), max_size=30),
       st.lists(st.integers(0, 20), max_size=30))
def test_merge_is_time_ordered_with_labels_first(ev_spec, lab_ts):
    evs = [Item("event", t, p, i, {}) for i, (t, p) in enumerate(ev_spec)]
    labs = [Item("label", t, 0, i, {}) for i, t in enumerate(lab_ts)]
    out = merge_inputs(evs, labs)
    assert len(out) == len(evs) + len(labs)
    for a, b in itertools.pairwise(out):
        assert a.ts <= b.ts
        if a.ts == b.ts:
            assert not (a.kind == "event" and b.kind == "label")
            if a.kind == b.kind:
                assert (a.partition, a.offset) <= (b.partition, b.offset)


# ------------------------------------------------------------------ determinism
def test_two_replays_give_identical_prediction_hashes():
    a, sa = replay_digest()
    b, _sb = replay_digest()
    assert a == b
    assert sa.outcomes["learned"] > 0 and sa.predictions == 3 * sa.scored


def test_a_different_seed_or_input_changes_the_hash():
    a, _ = replay_digest()
    b, _ = replay_digest(items=fraud_items(seed=6))
    assert a != b


def test_primed_features_equal_per_batch_features_including_dlq_and_duplicates():
    items = fraud_items(bad=True)
    primed, sp = replay_digest(items=fraud_items(bad=True), feature_chunk=700)
    plain, s0 = replay_digest(items=items, feature_chunk=0)
    assert primed == plain
    assert sp.dlq == s0.dlq == 4


def test_rules_run_once_per_event_and_rejections_keep_the_processors_reason(monkeypatch):
    """The primer hands its verdicts to the processor: check_rules runs once per event; an event
    the primer rejected is checked again by the processor, so its DLQ reason is the live one."""
    import schemas
    from streams import processor as processor_mod
    from streams.replay import primed as primed_mod

    calls = {"primer": 0, "processor": 0}

    def counting(name, real):
        def check(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return check

    monkeypatch.setattr(primed_mod, "check_rules", counting("primer", schemas.check_rules))
    monkeypatch.setattr(processor_mod, "check_rules", counting("processor", schemas.check_rules))
    items = fraud_items(1000, bad=True)
    stats = ReplayLoop(memory_processor(FRAUD_CFG, "t")).run(items)
    # the primer's quick test vouches for every good event; the three rule violations are checked
    # by the primer (not sure) and again by the processor (the DLQ reason)
    assert calls == {"primer": 3, "processor": 3}
    reasons = sorted(d["reason"] for d in stats.dlq_records)
    assert any("amount=-5.0 is below min 0" in r for r in reasons)
    assert any("carrier-pigeon" in r for r in reasons) and any("'card_id' is required" in r for r in reasons)
    assert len(reasons) == 4  # and the duplicate id


def test_replay_restores_the_garbage_collector():
    import gc

    before = gc.get_threshold()
    ReplayLoop(memory_processor(FRAUD_CFG, "t")).run(fraud_items(200))
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_non_finite_features_are_published_as_zero():
    from streams.processor import ScoreOutput
    from streams.snapshots import Served, Snapshot

    p = memory_processor(FRAUD_CFG, "t")
    values = np.array([[np.nan, np.inf, -np.inf, 1.5] + [0.0] * (len(p.names) - 4)])
    snap = Snapshot("e1", "k", 5, 6, 0.0, values[0], (Served("logreg", 0, "champion", 0.25),))
    out = ScoreOutput()
    p._emit((snap,), values, out)
    [rec] = out.scores
    assert list(rec["features"].values())[:4] == [0.0, 0.0, 0.0, 1.5]
    assert np.isnan(snap.features[0])  # the snapshot (what the models saw) keeps the NaN


def test_batch_size_does_not_change_predictions():
    assert replay_digest(batch_size=1)[0] == replay_digest(batch_size=5000)[0]


def test_batching_does_not_change_which_labels_outlive_their_snapshot():
    """A snapshot expires `snapshot_ttl` after its own event, not after the last event of the batch
    it was scored in: batch and feature-chunk sizes change nothing, even with labels past the TTL."""
    cfg = FRAUD_CFG.model_copy(update={"labels": FRAUD_CFG.labels.model_copy(update={"snapshot_ttl": 60_000})})
    items = fraud_items(2000, seed=9)

    def run(batch_size: int, feature_chunk: int) -> tuple[str, object]:
        digest, proc = PredictionDigest(), memory_processor(cfg, "t")
        proc.snapshots = ReplaySnapshots(cfg.labels.snapshot_ttl)
        stats = ReplayLoop(proc, on_scores=digest.add_records, batch_size=batch_size, feature_chunk=feature_chunk).run(items)
        return digest.hexdigest(), stats

    runs = [run(b, c) for b, c in ((1, 5000), (7, 37), (5000, 5000))]
    assert len({digest for digest, _ in runs}) == 1
    assert len({str(stats.outcomes) for _, stats in runs}) == 1
    assert 0 < runs[0][1].outcomes["orphan"] < runs[0][1].labels  # some labels do outlive their snapshot


def test_a_snapshot_expires_ttl_after_its_own_event():
    """A and B are scored in one batch (clock: B's ts); a label of A just past A's TTL finds nothing."""
    ttl = 3_600_000
    cfg = FRAUD_CFG.model_copy(update={"labels": FRAUD_CFG.labels.model_copy(update={"snapshot_ttl": ttl})})
    events, _ = fraud_generator().generate(3, seed=3)
    times = (0, 1000, ttl + 2000)
    evs = [Item("event", t, 0, k, {**e, "ts": t}) for k, (e, t) in enumerate(zip(events, times))]
    labs = [Item("label", ttl + 500, 0, 0, {"event_id": events[0]["event_id"], "label": 1.0, "ts": ttl + 500})]
    for batch_size in (2000, 1):
        proc = memory_processor(cfg, "t")
        proc.snapshots = ReplaySnapshots(ttl)
        stats = ReplayLoop(proc, batch_size=batch_size).run(merge_inputs(evs, labs))
        assert stats.outcomes["learned"] == 0 and stats.pending_at_end == 1, batch_size


def test_served_ts_is_the_event_time():
    records = []
    ReplayLoop(memory_processor(FRAUD_CFG, "t"), on_scores=records.extend).run(fraud_items(300))
    assert records and all(r["served_ts"] == r["event_ts"] and r["latency_ms"] == 0.0 for r in records)
    assert {r["run_id"] for r in records} == {"t"}


def test_early_label_of_an_unknown_event_becomes_orphan_on_the_replay_clock():
    wait = FRAUD_CFG.labels.early_label_wait
    events, _ = fraud_generator().generate(50, seed=1)
    t0 = events[0]["ts"]
    evs = [Item("event", t0 + k * wait // 10, 0, k, {**e, "ts": t0 + k * wait // 10}) for k, e in enumerate(events[:30])]
    labs = [Item("label", t0, 0, 0, {"event_id": "nobody", "label": 1.0, "ts": t0})]
    stats = ReplayLoop(memory_processor(FRAUD_CFG, "t")).run(merge_inputs(evs, labs))
    assert stats.outcomes["early"] == 1 and stats.outcomes["orphan"] == 1 and stats.pending_at_end == 0


def test_label_before_its_event_is_learned_right_after_the_event():
    events, _ = fraud_generator().generate(20, seed=2)
    evs = [Item("event", e["ts"], 0, i, dict(e)) for i, e in enumerate(events)]
    target = events[5]
    labs = [Item("label", target["ts"] - 1, 0, 0, {"event_id": target["event_id"], "label": 1.0, "ts": target["ts"] - 1})]
    loop = ReplayLoop(memory_processor(FRAUD_CFG, "t"))
    stats = loop.run(merge_inputs(evs, labs))
    assert stats.outcomes == {"learned": 1, "duplicate": 0, "early": 1, "orphan": 0}
    assert loop.p.models.metrics()["logreg"]["n"] == 1.0


# ------------------------------------------------------------------ selection
def test_bounds_parse_times_ms_and_offsets():
    assert parse_bound("2026-01-01T00:00:00") == 1_767_225_600_000
    assert parse_bound("2026-01-01T01:00:00+01:00") == 1_767_225_600_000
    sel = Selection.from_bounds("0:10,1:5", "0:20")
    assert sel.keeps(0, 10, 0) and sel.keeps(0, 19, 0) and not sel.keeps(0, 20, 0) and not sel.keeps(1, 4, 0)
    assert sel.keeps(2, 0, 0) and sel.labels_of_selected


def test_selection_from_a_manifest_is_exact():
    desc = {"events": {"partitions": {"0": [3, 9]}}, "labels": {"of_selected_events": False}, "from_ms": None, "to_ms": None}
    sel = Selection.from_description(desc)
    assert [o for o in range(12) if sel.keeps(0, o, 0)] == list(range(3, 10))
    assert not sel.keeps(1, 5, 0)
    everything = Selection.from_description({"events": {"partitions": {}}, "labels": {}})  # a live run's manifest
    assert everything.keeps(3, 10**9, 0)


# ------------------------------------------------------------------ compare
def _brute_auc(y, p):
    pos, neg = p[y > 0], p[y <= 0]
    return np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])


def test_metrics_match_brute_force():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(float)
    p = np.round(rng.random(300), 2)  # ties
    assert roc_auc(y, p) == pytest.approx(_brute_auc(y, p), abs=1e-12)
    assert accuracy(y, p, 0.5) == pytest.approx(np.mean((p >= 0.5) == (y > 0)))
    q = np.clip(p, 1e-15, 1 - 1e-15)
    assert log_loss(y, p) == pytest.approx(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)), rel=1e-12)


def test_bootstrap_is_seeded_and_covers_a_real_difference():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000).astype(float)
    good = np.clip(y * 0.6 + rng.random(2000) * 0.4, 0, 1)
    bad = rng.random(2000)
    rows = compare_arrays(y, bad, good, n_boot=200, seed=3)
    assert rows == compare_arrays(y, bad, good, n_boot=200, seed=3)
    auc = next(r for r in rows if r.metric == "roc_auc")
    assert auc.low <= auc.diff <= auc.high and auc.low > 0.2
    same = next(r for r in compare_arrays(y, good, good, n_boot=50) if r.metric == "log_loss")
    assert same.diff == same.low == same.high == 0.0


def test_snapshots_expire_on_the_replay_clock():
    """A label later than labels.snapshot_ttl finds no snapshot (as with Redis' TTL): early, then orphan."""
    from streams.replay.inputs import Inputs
    from streams.replay.runner import replay_inputs

    cfg = FRAUD_CFG.model_copy(update={"labels": FRAUD_CFG.labels.model_copy(update={"snapshot_ttl": 60_000})})
    events, _ = fraud_generator().generate(100, seed=4)
    t0 = events[0]["ts"]
    evs = [Item("event", t0 + k * 10_000, 0, k, {**e, "ts": t0 + k * 10_000}) for k, e in enumerate(events)]
    labs = [Item("label", t0 + 120_000, 0, 0, {"event_id": events[0]["event_id"], "label": 1.0, "ts": t0 + 120_000}),
            Item("label", t0 + 40_000, 0, 1, {"event_id": events[1]["event_id"], "label": 0.0, "ts": t0 + 40_000})]
    result = replay_inputs(cfg, "ttl", Inputs(evs, labs))
    assert result.stats.outcomes == {"learned": 1, "duplicate": 0, "early": 1, "orphan": 1}


def test_read_kafka_counts_tombstones_as_undecodable(monkeypatch, tmp_path):
    """A null value (tombstone) on the events or labels topic is undecodable, like the live worker
    dead-letters it; replay does not crash on it (`read_topic` faked: no broker here)."""
    from schemas import FolderRegistry
    from streams import kafka_io
    from streams.kafka_io import Message
    from streams.replay.inputs import read_kafka
    from streams.wiring import Codecs

    codecs = Codecs.build(FRAUD_CFG, FolderRegistry(tmp_path / "registry"))
    events, _ = fraud_generator().generate(3, seed=1)
    ev_t, lab_t = FRAUD_CFG.topics.events, FRAUD_CFG.topics.labels
    topics = {ev_t: [Message(ev_t, 0, i, b"k", codecs.encode("events", e), 0) for i, e in enumerate(events)]
              + [Message(ev_t, 0, 3, b"k", None, 0)],
              lab_t: [Message(lab_t, 0, 0, b"k", None, 0)]}
    monkeypatch.setattr(kafka_io, "read_topic", lambda servers, topic, *a, **kw: topics[topic])
    inputs = read_kafka(FRAUD_CFG, codecs, "127.0.0.1:9")
    assert [e.offset for e in inputs.events] == [0, 1, 2] and inputs.labels == []
    assert [(p, o) for p, o, _ in inputs.undecodable] == [(0, 3)] and "tombstone" in inputs.undecodable[0][2]


# ------------------------------------------------------------------ drift
def test_a_replays_drift_alerts_and_actions_reach_on_drift(tmp_path):
    """A back-test's drift alerts and the actions they took are what an analyst must see under the
    run id (`PredictionWriter.log_drift`): the loop hands them over as the live learner publishes
    them. Here the concept flips halfway and the champion is reset."""
    from streams.harness import example_config

    cfg = load_config(example_config(tmp_path, "replay_drift", models={
        "drift": {"action": "reset", "recent_window": 50, "grace_period": 100}}))
    events, labels = fraud_generator().generate(3000, seed=5)
    half = events[1500]["ts"]
    labels = [{**lab, "label": 1.0 - lab["label"]} if lab["ts"] > half else lab for lab in labels]  # the concept flips
    items = merge_inputs([Item("event", e["ts"], 0, i, dict(e)) for i, e in enumerate(events)],
                         [Item("label", lab["ts"], 0, i, dict(lab)) for i, lab in enumerate(labels)])
    got: list[tuple[list, list]] = []
    stats = ReplayLoop(memory_processor(cfg, "t"), on_drift=lambda a, x: got.append((a, x))).run(items)
    alerts = [a for a, _ in got for a in a]
    actions = [x for _, x in got for x in x]
    assert stats.alerts == len(alerts) > 0
    acted = [a for a in alerts if a["action"] == "reset"]
    assert acted and acted[0]["model"] == cfg.models.champion.name and acted[0]["ts"] > half
    assert [(x["action"], x["model"]) for x in actions] == [("reset", a["model"]) for a in acted]
