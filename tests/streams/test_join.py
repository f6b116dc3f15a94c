"""The delayed-label join, proven end to end through `streams.Processor`: for every learned label,
the x given to `learn_one` equals, bit for bit and in key order, the x that was served for that
event (the snapshot and the features on the published score record) — for labels that arrive
after their event, in a later batch, before their event (early), and with a scorer and a learner
in two processes that share only the snapshot store (early labels found by `retry_pending`)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from learners import LearnRecorder
from streams.config import load_config
from streams.processor import Processor, Source
from streams.snapshots import Snapshot
from streams.wiring import memory_processor
from tests.integration.fixtures import fraud_generator, write_config

N = 600
BATCH = 40


class PackingSnapshotsFake:
    """A fake of `RedisSnapshots`: stores the same bytes (`Snapshot.pack`) in a dict, so the
    learner reads back what Redis would give it."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def put_many(self, snapshots: list[Snapshot]) -> None:
        for s in snapshots:
            self.data[s.event_id] = s.pack()

    def get_many(self, event_ids: list[str]) -> list[Snapshot | None]:
        return [Snapshot.unpack(self.data[e]) if e in self.data else None for e in event_ids]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    cfg = load_config(write_config(Path(tmp_path_factory.mktemp("join")), "join_test", partitions=1))
    events, labels = fraud_generator().generate(N, seed=5)
    return cfg, events, labels


def schedule(events: list[dict], labels: list[dict], seed: int) -> list[tuple[list[dict], list[dict]]]:
    """Steps of (labels, events): events in batches; each label delivered between 2 batches
    before and 3 after its event's batch (before = an early label), plus a few duplicates."""
    rng = random.Random(seed)
    batch_of = {e["event_id"]: i // BATCH for i, e in enumerate(events)}
    n_steps = len(events) // BATCH + 5
    steps: list[tuple[list[dict], list[dict]]] = [([], events[i * BATCH:(i + 1) * BATCH]) for i in range(n_steps)]
    for lab in labels:
        at = min(max(batch_of[lab["event_id"]] + rng.randint(-2, 3), 0), n_steps - 1)
        steps[at][0].append(lab)
        if rng.random() < 0.03:
            steps[min(at + 1, n_steps - 1)][0].append(dict(lab))  # a redelivered label
    return steps


def sources(events: list[dict], start: int) -> list[Source]:
    return [Source("join_test.events", 0, start + i) for i in range(len(events))]


def check_join(recorder: LearnRecorder, served: dict[str, Snapshot], published: dict[str, dict], names: list[str]) -> int:
    """Every learned x equals the served one bit for bit; returns how many were checked."""
    assert recorder.records, "nothing was learned"
    seen: set[str] = set()
    for (event_id, x), copy in zip(recorder.records, recorder.copies):
        assert event_id not in seen, f"{event_id} learned twice"
        seen.add(event_id)
        snap = served[event_id]
        assert list(x) == names, "key order differs from the served feature order"
        want = snap.features.tolist()
        assert [v.hex() for v in x.values()] == [v.hex() for v in want], event_id
        assert copy == x, "a model mutated the x it learned from"
        for name, value in published[event_id].items():
            if math.isfinite(x[name]):  # score records carry non-finite features as 0.0
                assert value.hex() == x[name].hex(), (event_id, name)
    return len(seen)


def test_one_processor_learns_exactly_the_served_x(data):
    cfg, events, labels = data
    proc = memory_processor(cfg, "join-run")
    proc.snapshots = PackingSnapshotsFake()
    recorder = LearnRecorder()
    proc.learner.on_learn = recorder
    served: dict[str, Snapshot] = {}
    published: dict[str, dict] = {}
    statuses: dict[str, int] = {}
    offset = 0
    now = 1_000
    for labs, evs in schedule(events, labels, seed=1):
        now += 100
        out = proc.learn(labs, now)
        for o in out.outcomes:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        sc = proc.score(evs, sources(evs, offset), now)
        offset += len(evs)
        for o in sc.learned:
            statuses["on_snapshot"] = statuses.get("on_snapshot", 0) + 1
        served.update({s.event_id: s for s in sc.snapshots})
        published.update({r["event_id"]: r["features"] for r in sc.scores})
    assert statuses.get("early", 0) > 20, statuses  # labels that overtook their event
    assert statuses.get("on_snapshot", 0) == statuses["early"]  # each learned as its event was scored
    assert statuses.get("duplicate", 0) > 0
    assert proc.learner.counts["learned"] == len(labels)
    assert proc.learner.counts["orphan"] == 0
    assert check_join(recorder, served, published, proc.names) == len(labels)


def split_processes(cfg, run_id: str) -> tuple[Processor, Processor]:
    """A scorer without a learner and a learner that never scores, sharing only a snapshot store."""
    store = PackingSnapshotsFake()
    scorer = memory_processor(cfg, run_id)
    scorer = Processor(cfg, scorer.engine, scorer.models, None, store, run_id)
    learner = memory_processor(cfg, run_id)
    learner.snapshots = store
    return scorer, learner


def test_scorer_and_learner_processes_share_only_snapshots(data):
    """A scorer without a learner and a learner that never scores: early labels are found by
    `retry_pending` once the scorer has written their snapshot."""
    cfg, events, labels = data
    scorer, learner = split_processes(cfg, "join-run")
    recorder = LearnRecorder()
    learner.learner.on_learn = recorder
    served: dict[str, Snapshot] = {}
    published: dict[str, dict] = {}
    early = retried = 0
    offset = 0
    now = 1_000
    for labs, evs in schedule(events, labels, seed=2):
        now += 100
        out = learner.learn(labs, now)
        early += sum(o.status == "early" for o in out.outcomes)
        sc = scorer.score(evs, sources(evs, offset), now)
        assert not sc.learned
        offset += len(evs)
        served.update({s.event_id: s for s in sc.snapshots})
        published.update({r["event_id"]: r["features"] for r in sc.scores})
        retried += sum(o.status == "learned" for o in learner.retry_pending(now + 50).outcomes)
    assert early > 20 and retried == early
    assert learner.learner.counts["learned"] == len(labels)
    assert check_join(recorder, served, published, learner.names) == len(labels)


def test_served_ts_and_latency_are_read_after_the_models(data):
    """Live scoring stamps a record when its scores exist: ``served_ts`` from `served_clock`
    (read once, after the predictions), ``latency_ms`` = served - received; without a clock
    (replay) ``served_ts`` is the batch clock."""
    cfg, events, _labels = data
    proc = memory_processor(cfg, "clock-run")
    now = int(events[BATCH - 1]["ts"]) + 1
    reads: list[int] = []

    def clock() -> int:
        reads.append(now + 25)
        return now + 25

    out = proc.score(events[:BATCH], sources(events[:BATCH], 0), now, received_ms=now - 5, served_clock=clock)
    assert len(reads) == 1
    assert {(r["served_ts"], r["latency_ms"]) for r in out.scores + out.shadow} == {(now + 25, 30.0)}
    assert {s.served_ts for s in out.snapshots} == {now + 25}
    out = proc.score(events[BATCH:2 * BATCH], sources(events[BATCH:2 * BATCH], BATCH), now, received_ms=now - 5)
    assert {(r["served_ts"], r["latency_ms"]) for r in out.scores} == {(now, 5.0)}


def test_a_second_label_that_comes_with_the_snapshot_of_a_waiting_first_one_is_the_duplicate(data):
    """Split roles: the first label waits (its event is not scored yet), the scorer process then
    serves the event, and a second label with another value arrives before the learner's retry.
    The first label is learned (as ClickHouse's labels table keeps it) and the second counted as
    a duplicate, in that order, in the outcomes the worker counts."""
    cfg, events, _labels = data
    scorer, learner = split_processes(cfg, "dup-run")
    seen: list[tuple[str, float]] = []
    learner.learner.model_set.add_learn_hook(lambda name, x, y: seen.append((name, y)))
    ev = events[0]
    first = {"event_id": ev["event_id"], "label": 1.0, "ts": ev["ts"] + 10}
    second = {**first, "label": 0.0, "ts": ev["ts"] + 20}
    assert [o.status for o in learner.learn([first], 1_000).outcomes] == ["early"]
    scorer.score([ev], sources([ev], 0), 1_100)
    out = learner.learn([second], 1_200)
    assert [(o.status, o.label["label"]) for o in out.outcomes] == [("learned", 1.0), ("duplicate", 0.0)]
    assert {y for _, y in seen} == {True}  # every model learned the first value only
    assert learner.learner.counts == {"learned": 1, "duplicate": 1, "early": 1, "orphan": 0}
    assert learner.retry_pending(1_300).outcomes == []


def test_labels_redelivered_below_the_checkpoint_are_not_counted_again(data):
    """A learner that resumes from a checkpoint whose labels offsets were not committed yet (a
    crash between the checkpoint's save and the commit) reads those labels again: they are
    recognised by position, learned by no model, and add no outcome — the restored counts already
    hold them, so `labels_<status>` still sum to the labels sent."""
    cfg, events, labels = data
    scorer, first = split_processes(cfg, "join-run")
    evs = events[:300]
    ids = {e["event_id"] for e in evs}
    labs = [lab for lab in labels if lab["event_id"] in ids][:150]
    scorer.score(evs, sources(evs, 0), 1_000)
    positions = [(0, i) for i in range(len(labs))]
    first.learn(labs[:100], 2_000, positions[:100])
    state = first.learner.state()  # the checkpoint; the crash comes before its offsets are committed
    assert first.learner.counts["learned"] == 100
    second = memory_processor(cfg, "join-run")
    second.snapshots = first.snapshots
    second.learner.load_state(state)
    second.resume_offsets = second.learner.offsets
    recorder = LearnRecorder()
    second.learner.on_learn = recorder
    out = second.learn(labs, 3_000, positions)  # Kafka redelivers from the last committed offset (0)
    assert [e for e, _x in recorder.records] == [lab["event_id"] for lab in labs[100:]]
    assert second.learner.counts["learned"] == 150
    assert second.learner.counts["duplicate"] == 0, "labels read again were counted as duplicates"
    assert [o.event_id for o in out.outcomes] == [lab["event_id"] for lab in labs[100:]]
    assert out.redelivered == 100


def test_a_duplicate_whose_snapshot_expired_is_not_served_again_and_its_label_is_an_orphan(data):
    """An event id already applied whose snapshot is gone (`labels.snapshot_ttl` shorter than
    `features.dedup_horizon`): served again, it would get other features (its own and later
    events are in the state), a second score record, and its label would be learned with values
    nobody was served. It is a duplicate, and its label an orphan as any label past the TTL."""
    cfg, events, _labels = data
    proc = memory_processor(cfg, "t")
    recorder = LearnRecorder()
    proc.learner.on_learn = recorder
    first = events[:30]
    proc.score(first, [Source("e", 0, i) for i in range(30)], now_ms=first[-1]["ts"])
    gone = first[3]
    del proc.snapshots._data[gone["event_id"]]  # expired: the store's TTL ran out
    out = proc.score([dict(gone)], [Source("e", 0, 99)], now_ms=first[-1]["ts"] + 1)
    assert not out.scores and not out.snapshots
    assert [d["error_class"] for d in out.dlq] == ["duplicate"] and "expired" in out.dlq[0]["reason"]
    again = proc.score([dict(gone)], [Source("e", 0, 3)], now_ms=first[-1]["ts"] + 2)  # its own offset, too
    assert not again.scores and [d["error_class"] for d in again.dlq] == ["duplicate"]
    label = {"event_id": gone["event_id"], "label": 1.0, "ts": gone["ts"] + 1}
    proc.learner.join = proc.learner.join.model_copy(update={"early_label_wait": 0})
    learned = proc.learn([label], now_ms=first[-1]["ts"] + 3)
    assert [o.status for o in learned.outcomes] == ["orphan"] and not recorder.records


class _FailsOnLargeAmounts:
    """A user's model (an import path) with a bug: it raises on some inputs."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner

    def predict_proba_one(self, x: dict) -> dict:
        if x["amount"] > 100:
            raise ValueError("amount out of the range I was written for")
        return self.inner.predict_proba_one(x)

    def learn_one(self, x: dict, y) -> None:  # noqa: ANN001
        self.inner.learn_one(x, y)


class _NanOnLargeAmounts(_FailsOnLargeAmounts):
    """A user's model that returns NaN instead of raising (a diverged or buggy model)."""

    def predict_proba_one(self, x: dict) -> dict:
        return {True: math.nan, False: math.nan} if x["amount"] > 100 else self.inner.predict_proba_one(x)


@pytest.mark.parametrize(("broken", "role", "says"), [
    (_FailsOnLargeAmounts, "champion", "ValueError"),
    (_NanOnLargeAmounts, "challenger", "non-finite prediction (nan)"),
])
def test_a_model_that_fails_on_an_event_dead_letters_that_event_and_scores_the_rest(data, broken, role, says):
    """A model that raises on one input must not stop scoring (the worker crashed on every restart
    over the same batch); one that returns NaN must not reach the fraud service, nor ClickHouse,
    whose metrics would read it as a confident prediction (log loss clamps it) or go NULL for the
    whole bucket (ROC AUC). That event is dead-lettered (`model_error`, naming the model and the
    error), every other event of the batch is scored by every model, and its label is an orphan."""
    cfg, events, _labels = data
    proc = memory_processor(cfg, "t")
    name = next(n for n in proc.models.names if proc.models.roles[n] == role)
    proc.models._models[name] = broken(proc.models.model(name))  # as a custom model would be
    batch = events[:60]
    bad = [e["event_id"] for e in batch if e["amount"] > 100]
    assert bad and len(bad) < len(batch)
    out = proc.score(batch, [Source("e", 0, i) for i in range(len(batch))], now_ms=batch[-1]["ts"])
    assert [d["error_class"] for d in out.dlq] == ["model_error"] * len(bad)
    assert all(name in d["reason"] and says in d["reason"] for d in out.dlq)
    scored = {s.event_id for s in out.snapshots}
    assert scored == {e["event_id"] for e in batch} - set(bad)
    assert len(out.scores) == len(scored) and len(out.shadow) == len(scored) * (len(proc.models.names) - 1)
    assert all(math.isfinite(r["prediction"]) for r in [*out.scores, *out.shadow])


def test_events_with_an_empty_id_are_dead_lettered_as_rule_violations_and_the_rest_scored(data):
    """An empty (or blank) event id is a producer bug, not a redelivery: all such events would share
    one id, so each after the first would be a `duplicate` that never enters a window."""
    cfg, events, _labels = data
    proc = memory_processor(cfg, "t")
    batch = [dict(e) for e in events[:20]]
    batch[4]["event_id"], batch[11]["event_id"] = "", "  "
    out = proc.score(batch, [Source("e", 0, i) for i in range(len(batch))], now_ms=batch[-1]["ts"])
    assert [(d["error_class"], d["reason"]) for d in out.dlq] == [
        ("rule_violation", "event id field 'event_id' is empty"),
        ("rule_violation", "event id field 'event_id' is empty (only whitespace: '  ')")]
    assert len(out.snapshots) == len(out.scores) == 18
    again = proc.score([dict(events[20], event_id="")], [Source("e", 0, 20)], now_ms=events[20]["ts"])
    assert [d["error_class"] for d in again.dlq] == ["rule_violation"] and not again.scores


class _FailsToLearnLargeAmounts(_FailsOnLargeAmounts):
    def predict_proba_one(self, x: dict) -> dict:
        return self.inner.predict_proba_one(x)

    def learn_one(self, x: dict, y) -> None:  # noqa: ANN001
        if x["amount"] > 100:
            raise ValueError("cannot learn that")
        self.inner.learn_one(x, y)


def test_a_model_that_raises_while_learning_a_label_makes_it_an_orphan_with_the_reason(data):
    """The labels agent stopped on such a label, on every restart. It is now an orphan (not
    learned; dead-lettered as `orphan_label` at its position, the reason naming the error), and
    the labels after it are learned."""
    from streams.label_outcomes import orphan_letters

    cfg, events, labels = data
    proc = memory_processor(cfg, "t")
    learning = proc.learner.model_set
    champion = learning.champion_name
    learning._models[champion] = _FailsToLearnLargeAmounts(learning.model(champion))
    batch = events[:60]
    proc.score(batch, [Source("e", 0, i) for i in range(len(batch))], now_ms=batch[-1]["ts"])
    ids = {e["event_id"] for e in batch}
    labs = [lab for lab in labels if lab["event_id"] in ids]
    out = proc.learn(labs, batch[-1]["ts"] + 1, [(0, i) for i in range(len(labs))])
    amount = {e["event_id"]: e["amount"] for e in batch}
    statuses = {o.event_id: o.status for o in out.outcomes}
    assert {e for e, st in statuses.items() if st == "orphan"} == {e for e in statuses if amount[e] > 100} != set()
    assert all(st == "learned" for e, st in statuses.items() if amount[e] <= 100)
    letters = orphan_letters(cfg.pipeline, cfg.topics.labels, out.outcomes, lambda rec: b"label", 0)
    assert len(letters) == sum(a > 100 for a in amount.values()) and "ValueError" in letters[0]["reason"]
