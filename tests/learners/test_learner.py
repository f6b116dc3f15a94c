"""Learner statuses: learned, duplicate, early, orphan; counts; state round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learners import (
    JoinConfig,
    Learner,
    LearnRecorder,
    ModelInputError,
    ModelsConfig,
    ModelSet,
)

from .streams import make_stream

CONFIG = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"})


def new_learner(**join) -> tuple[Learner, LearnRecorder]:
    recorder = LearnRecorder()
    return Learner(ModelSet(CONFIG), JoinConfig(**join), on_learn=recorder), recorder


def label(event_id: str, value: float = 1.0, ts: int = 0) -> dict:
    return {"event_id": event_id, "label": value, "ts": ts}


SNAP = {"x": {"a": 1.0, "b": 2.0}, "predictions": {"lr": 0.5, "baseline": 0.0}}


def test_learned_then_duplicate_within_horizon_then_learned_again_after_it():
    learner, recorder = new_learner(dedupe_horizon="1s")
    assert learner.learn(label("e1"), SNAP, now_ms=0).status == "learned"
    assert learner.learn(label("e1"), SNAP, now_ms=500).status == "duplicate"
    assert learner.learn(label("e1"), SNAP, now_ms=1001).status == "learned"  # horizon passed
    assert learner.counts == {"learned": 2, "duplicate": 1, "early": 0, "orphan": 0}
    assert [eid for eid, _ in recorder.records] == ["e1", "e1"]


def test_early_label_is_learned_when_its_snapshot_arrives():
    learner, recorder = new_learner(early_label_wait="10s")
    outcome = learner.learn(label("e1"), None, now_ms=0)
    assert outcome.status == "early" and learner.pending_ids == ["e1"]
    assert learner.learn(label("e1"), None, now_ms=1).status == "duplicate"  # redelivered early
    assert learner.on_snapshot("other", SNAP, now_ms=2) is None
    outcome = learner.on_snapshot("e1", SNAP, now_ms=3)
    assert outcome is not None and outcome.status == "learned" and outcome.y is True
    assert learner.pending_ids == [] and recorder.records == [("e1", SNAP["x"])]
    assert learner.counts == {"learned": 1, "duplicate": 1, "early": 1, "orphan": 0}


def test_retry_fetches_pending_in_one_call_learns_found_and_expires_stale():
    learner, _ = new_learner(early_label_wait="1s")
    learner.learn(label("old"), None, now_ms=0)
    learner.learn(label("found"), None, now_ms=500)
    learner.learn(label("later"), None, now_ms=900)
    calls: list[list[str]] = []

    def fetch(ids):
        calls.append(list(ids))
        return {"found": SNAP}

    outcomes = learner.retry(1200, fetch)
    assert calls == [["old", "found", "later"]]
    assert [(o.event_id, o.status) for o in outcomes] == [("found", "learned"), ("old", "orphan")]
    assert learner.pending_ids == ["later"]
    assert [o.status for o in learner.expire(now_ms=1900)] == ["orphan"]
    assert learner.counts == {"learned": 1, "duplicate": 0, "early": 3, "orphan": 2}


def test_zero_wait_makes_unknown_ids_orphans_at_once_and_full_buffer_overflows_to_orphan():
    learner, _ = new_learner(early_label_wait=0)
    assert learner.learn(label("ghost"), None, now_ms=0).status == "orphan"
    learner, _ = new_learner(max_pending=1)
    assert learner.learn(label("a"), None, now_ms=0).status == "early"
    outcome = learner.learn(label("b"), None, now_ms=0)
    assert outcome.status == "orphan" and outcome.detail == "pending buffer full"


def test_every_label_is_accounted_for():
    learner, _ = new_learner(early_label_wait="100ms")
    stream = make_stream("binary", 200, seed=3)
    for i, (x, y) in enumerate(stream):
        snapshot = {"x": x} if i % 4 else None  # every 4th arrives before its snapshot
        learner.learn(label(f"e{i}", y, i), snapshot, now_ms=i)
        if i % 10 == 0:
            learner.learn(label(f"e{i}", y, i), snapshot, now_ms=i)  # redelivery
    learner.retry(300, lambda ids: {eid: {"x": stream[int(eid[1:])][0]} for eid in ids if int(eid[1:]) % 8 == 0})
    c = learner.counts
    assert c["learned"] + c["orphan"] + len(learner.pending_ids) == 200
    assert c["duplicate"] == 20 and c["early"] == 50 and c["orphan"] == 25


def test_losses_and_metrics_use_the_served_prediction():
    learner, _ = new_learner()
    outcome = learner.learn(label("e1", 0.0), {"x": {"a": 1.0}, "predictions": {"lr": 0.8}}, now_ms=0)
    assert outcome.y is False and outcome.losses == {"lr": pytest.approx(1.6094379, rel=1e-6)}
    metrics = learner.model_set.metrics()
    assert metrics["lr"]["n"] == 1 and metrics["lr"]["accuracy"] == 0.0
    assert metrics["baseline"]["n"] == 0  # no served prediction for it in that snapshot


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"label": 1.0}, "no event_id"), ({"event_id": "e", "label": None}, "no 'label'")],
)
def test_malformed_labels_raise_for_the_dlq(bad, message):
    learner, _ = new_learner()
    with pytest.raises(ModelInputError, match=message):
        learner.learn(bad, SNAP, now_ms=0)
    with pytest.raises(ModelInputError, match="has no 'x'"):
        learner.learn(label("e"), {"features": {}}, now_ms=0)


def test_state_is_json_and_round_trips():
    learner, _ = new_learner(early_label_wait="1h")
    learner.learn(label("e1"), SNAP, now_ms=1, partition=0, offset=7)
    learner.learn(label("e2"), None, now_ms=2, partition=1, offset=3)
    state = json.loads(json.dumps(learner.state()))
    other, _ = new_learner(early_label_wait="1h")
    other.load_state(state)
    assert other.state() == learner.state()
    assert other.offsets == {0: 8, 1: 4} and other.pending_ids == ["e2"]
    assert other.learn(label("e1"), SNAP, now_ms=3).status == "duplicate"
    assert other.on_snapshot("e2", SNAP, now_ms=4).status == "learned"


def test_state_can_keep_only_the_most_recent_learned_ids():
    learner, _ = new_learner()
    for i in range(5):
        learner.learn(label(f"e{i}"), SNAP, now_ms=i)
    assert learner.state(learned_tail=2)["learned"] == [["e3", 3], ["e4", 4]]
    assert learner.state(learned_tail=0)["learned"] == []
    assert learner.state(learned_tail=99)["learned"] == learner.state()["learned"]
    assert {k: v for k, v in learner.state(learned_tail=2).items() if k != "learned"} == \
        {k: v for k, v in learner.state().items() if k != "learned"}


def test_a_waiting_label_redelivered_with_its_snapshot_is_learned_once():
    learner, recorder = new_learner(early_label_wait="1h")
    assert learner.learn(label("e1"), None, now_ms=0).status == "early"
    assert learner.learn(label("e1"), SNAP, now_ms=1).status == "learned"
    assert learner.pending_ids == []
    assert learner.on_snapshot("e1", SNAP, now_ms=2) is None
    assert learner.retry(3, lambda ids: {i: SNAP for i in ids}) == []
    assert len(recorder.records) == 1


# --- state_json: the checkpoint meta as text, pending labels encoded once -------------------------

_ops = st.lists(st.tuples(st.sampled_from(["label", "snapshot", "expire", "checkpoint", "reload"]),
                          st.integers(0, 12), st.sampled_from([0.0, 1.0]), st.text(max_size=3)), max_size=60)


@settings(deadline=None)
@given(_ops)
def test_state_json_is_state(ops):
    """After any mix of labels (ids coming back after they left pending, extra fields, unicode),
    snapshots, expiries, reloads and earlier checkpoints, `state_json()` parses to `state()`."""
    ms = ModelSet(CONFIG)
    learner = Learner(ms, JoinConfig(early_label_wait=5, dedupe_horizon=3))
    snap = {"x": {"a": 1.0}, "predictions": {"lr": 0.5}}
    for now, (op, k, y, note) in enumerate(ops):
        eid = f"e{k}"
        if op == "label":
            learner.learn({"event_id": eid, "label": y, "ts": now, "note": note}, None, now_ms=now)
        elif op == "snapshot":
            learner.on_snapshot(eid, snap, now_ms=now)
        elif op == "expire":
            learner.expire(now_ms=now)
        elif op == "checkpoint":
            assert json.loads(learner.state_json(learned_tail=2)) == learner.state(learned_tail=2)
        else:
            learner.load_state(json.loads(learner.state_json()))
    assert json.loads(learner.state_json()) == learner.state()
    assert json.loads(learner.state_json(learned_tail=1)) == learner.state(learned_tail=1)


def test_the_first_label_wins_when_a_second_copy_brings_the_snapshot():
    learner, _ = new_learner(early_label_wait="1h")
    learned: list = []
    learner.model_set.add_learn_hook(lambda name, x, y: learned.append(y))
    assert learner.learn({**label("e1"), "label": 1.0}, None, now_ms=0).status == "early"
    outcome = learner.learn({**label("e1"), "label": 0.0}, SNAP, now_ms=1)
    assert outcome.status == "learned" and outcome.label["label"] == 1.0 and set(learned) == {True}
    assert learner.counts["duplicate"] == 1 and learner.pending_ids == []
    assert learner.learn({**label("e1"), "label": 0.0}, SNAP, now_ms=2).status == "duplicate"


def test_a_live_learner_keeps_the_ids_its_store_has_not_marked_yet():
    """`unmarked` / `marked`: the ids learned since the caller last marked them; a checkpoint
    carries every one of them whatever its tail; a restored learner marks its ids again; a
    label its store marks learned (by an earlier process) is a duplicate."""
    learner, _ = new_learner()
    learner.tracks_marks = True
    for i in range(5):
        learner.learn(label(f"e{i}"), SNAP, now_ms=i)
    assert learner.unmarked() == [f"e{i}" for i in range(5)]
    assert len(learner.state(learned_tail=2)["learned"]) == 5
    learner.marked(3)
    assert learner.unmarked() == ["e3", "e4"] and len(learner.state(learned_tail=1)["learned"]) == 2
    other, _ = new_learner()
    other.tracks_marks = True
    other.load_state(learner.state(learned_tail=2))
    assert other.unmarked() == ["e3", "e4"]
    assert other.learn(label("e0"), SNAP, now_ms=9, learned_before=True).status == "duplicate"
    assert other.learn(label("e9"), SNAP, now_ms=9).status == "learned"
    untracked, _ = new_learner()
    untracked.learn(label("e1"), SNAP, now_ms=1)
    assert untracked.unmarked() == []  # replay: nobody marks, nothing is kept


def test_an_orphaned_first_label_still_wins_and_can_be_sent_again():
    """A first label that became an orphan (it came too early) is remembered: a later label of
    another value is a duplicate (ClickHouse's `labels` keeps the first too), the same one sent
    again once the event is scored is learned; both survive a checkpoint."""
    learner, recorder = new_learner(early_label_wait="1s", dedupe_horizon="1h")
    learned: list = []
    learner.model_set.add_learn_hook(lambda name, x, y: learned.append(y) if name == "lr" else None)
    assert learner.learn(label("e1", 1.0), None, now_ms=0).status == "early"
    assert [o.status for o in learner.expire(now_ms=1000)] == ["orphan"]
    other, _ = new_learner(early_label_wait="1s", dedupe_horizon="1h")
    other.load_state(json.loads(learner.state_json()))
    for lr in (learner, other):
        outcome = lr.learn(label("e1", 0.0), SNAP, now_ms=2000)
        assert outcome.status == "duplicate" and "first label wins" in outcome.detail
    assert learned == [] and recorder.records == []
    assert learner.learn(label("e1", 1.0), SNAP, now_ms=3000).status == "learned"  # the dead letter, sent again
    assert learned == [True] and learner.counts == {"learned": 1, "duplicate": 1, "early": 1, "orphan": 1}
    assert learner.state()["orphaned"] == [] and other.state()["orphaned"] == [["e1", 1000, 1.0]]
    assert other.learn(label("e1", 0.0), SNAP, now_ms=1000 + 3_600_001).status == "learned"  # horizon passed


def test_a_tailed_checkpoint_carries_the_newest_orphans_and_every_one_since_the_last_save():
    """A live checkpoint (`learned_tail`) is as small for orphans as for learned ids: a week of
    orphans (up to `max_learned_ids`) was encoded in full every second, 2.4 s and 42 MB for 1M.
    Replay's untailed state keeps them all."""
    learner, _ = new_learner(early_label_wait=0)
    for i in range(5):
        learner.learn(label(f"o{i}", 1.0), None, now_ms=i)
    assert [e for e, _t, _v in learner.state(learned_tail=2)["orphaned"]] == ["o0", "o1", "o2", "o3", "o4"]
    learner.saved()
    assert learner.state(learned_tail=2)["orphaned"] == [["o3", 3, 1.0], ["o4", 4, 1.0]]
    for i in range(5, 8):
        learner.learn(label(f"o{i}", 0.0), None, now_ms=i)
    assert [e for e, _t, _v in learner.state(learned_tail=2)["orphaned"]] == ["o5", "o6", "o7"]
    assert len(learner.state()["orphaned"]) == 8
    resumed, _ = new_learner(early_label_wait=0)
    resumed.load_state(json.loads(learner.state_json(learned_tail=2)))
    assert resumed.learn(label("o6", 1.0), SNAP, now_ms=9).status == "duplicate"  # in the tail: first wins
    assert resumed.learn(label("o0", 0.0), SNAP, now_ms=9).status == "learned"  # before it: forgotten


def test_zero_wait_orphans_are_remembered_too():
    learner, _ = new_learner(early_label_wait=0)
    assert learner.learn(label("e1", 1.0), None, now_ms=0).status == "orphan"
    assert learner.learn(label("e1", 0.0), SNAP, now_ms=1).status == "duplicate"
    assert learner.learn(label("e1", 1.0), SNAP, now_ms=2).status == "learned"


_label_ops = st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0.0, 1.0]), st.booleans(), st.integers(0, 3)),
                      max_size=60)


@settings(deadline=None, max_examples=300)
@given(_label_ops)
def test_the_first_label_of_an_event_is_the_only_one_ever_learned(ops):
    """Any mix of labels (with or without their snapshot), expiries, retries and checkpoints:
    every label message is counted once (`learned + duplicate + orphan + pending == messages`),
    and what the models learn for an event is its first label's value, as ClickHouse's
    `labels` table keeps."""
    ids: list[str] = []
    ys: list = []

    def fresh() -> Learner:
        lr = Learner(ModelSet(CONFIG), JoinConfig(early_label_wait=3, dedupe_horizon="1h"),
                     on_learn=lambda eid, x: ids.append(eid))
        lr.model_set.add_learn_hook(lambda name, x, y: ys.append(y) if name == "lr" else None)
        return lr

    learner = fresh()
    first: dict[str, float] = {}
    for step, (k, y, has_snapshot, op) in enumerate(ops):
        now, eid = 2 * step, f"e{k}"
        first.setdefault(eid, y)
        learner.learn(label(eid, y, now), SNAP if has_snapshot else None, now_ms=now)
        if op == 1:
            learner.expire(now_ms=now)
        elif op == 2:
            learner.retry(now, lambda ids_: {i: SNAP for i in ids_})
        elif op == 3:
            state = json.loads(learner.state_json())
            learner = fresh()
            learner.load_state(state)
    c = learner.counts
    assert c["learned"] + c["duplicate"] + c["orphan"] + learner.n_pending == len(ops)
    assert len(ids) == len(ys) == c["learned"]
    for eid, y in zip(ids, ys, strict=True):
        assert y == bool(first[eid]), (eid, y)
