"""A live batch's snapshots are written by its feature-state commit, in the same atomic step:
an event is never applied to its windows without what it was served, whatever stops the worker
(real redis-server). Before, a worker that died between the two writes left events applied
but not served; redelivered, they were served read-only values that already held themselves
and the batch's later events (`since_prev` 0, counts one too high)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from features import RedisStateStore
from streams.config import load_config
from streams.processor import Processor, Source
from streams.snapshots import MemorySnapshots
from streams.wiring import live_processor, memory_processor
from tests.integration.fixtures import fraud_generator, write_config

PARTITION = 0


@pytest.fixture(scope="module")
def batches() -> list[list[dict]]:
    """Three batches of the fraud example in which cards come back (`since_prev` is not its default)."""
    events, _ = fraud_generator().generate(600, seed=4)
    by_card: dict[str, list[dict]] = {}
    for e in events:
        by_card.setdefault(e["card_id"], []).append(e)
    busy = sorted((e for evs in by_card.values() if len(evs) > 1 for e in evs), key=lambda e: e["ts"])[:90]
    return [busy[i:i + 30] for i in range(0, 90, 30)]


def sources(batch: list[dict], at: int, partition: int = PARTITION) -> list[Source]:
    return [Source("p.events", partition, at + i) for i in range(len(batch))]


def served(out) -> list[tuple]:  # noqa: ANN001 - ScoreOutput
    return [(r["event_id"], r["model"], r["model_version"], r["prediction"], tuple(sorted(r["features"].items())))
            for r in out.scores + out.shadow]


def score_all(proc, batches: list[list[dict]]) -> list[tuple]:  # noqa: ANN001 - Processor
    out, at = [], 0
    for b in batches:
        out += served(proc.score(b, sources(b, at), int(b[-1]["ts"])))
        at += len(b)
    return out


def processor(home: Path, client: redis.Redis, namespace: str):  # noqa: ANN201
    """A live processor (no learner) whose state and snapshots are under `namespace`."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = load_config(write_config(home, namespace, partitions=1))
    return live_processor(cfg, client, "run", learner=False)


def test_a_worker_that_dies_before_the_commit_leaves_nothing_applied(tmp_path, redis_client, namespace, batches):
    reference = score_all(processor(tmp_path / "ref", redis_client, namespace + "ref"), batches)
    dying = processor(tmp_path, redis_client, namespace)
    dying.score(batches[0], sources(batches[0], 0), int(batches[0][-1]["ts"]))

    def die(*args, **kw):
        raise KeyboardInterrupt("SIGKILL")  # the models were predicting: the commit never ran

    dying.models.predict_many_full = die
    with pytest.raises(KeyboardInterrupt):
        dying.score(batches[1], sources(batches[1], 30), int(batches[1][-1]["ts"]))
    # a new worker gets the batch again: served as the never-stopped one served it
    again = processor(tmp_path, redis_client, namespace)
    outs = [again.score(b, sources(b, at), int(b[-1]["ts"])) for b, at in ((batches[1], 30), (batches[2], 60))]
    assert [r for o in outs for r in served(o)] == reference[len(reference) // 3:]
    assert sum(o.redelivered for o in outs) == 0


def test_a_worker_that_dies_after_the_commit_is_re_emitted_what_it_served(tmp_path, redis_client, namespace, batches):
    first = processor(tmp_path, redis_client, namespace)
    sent = score_all(first, batches)  # committed with their snapshots; never published
    again = processor(tmp_path, redis_client, namespace)
    outs = [again.score(b, sources(b, 30 * i), int(b[-1]["ts"])) for i, b in enumerate(batches)]
    assert [r for o in outs for r in served(o)] == sent
    assert sum(o.redelivered for o in outs) == 90 and not any(o.dlq for o in outs)


class InterferingStore(RedisStateStore):
    """Before its first commit, another worker applies `other` (sharing its merchants and cards)."""

    def __init__(self, client: redis.Redis, namespace: str, other, batch: list[dict]) -> None:  # noqa: ANN001
        super().__init__(client, namespace)
        self.other, self.batch, self.commits = other, batch, 0

    def commit(self, *args, **kw):
        self.commits += 1
        if self.commits == 1:
            self.other.score(self.batch, sources(self.batch, 0, partition=1), int(self.batch[-1]["ts"]))
        return super().commit(*args, **kw)


def test_a_commit_that_conflicts_stores_what_its_retry_served(tmp_path, redis_client, namespace, batches):
    """Served again after the conflict: the records and the stored snapshots are the retry's,
    and equal what one worker applying the other batch first serves."""
    reference = processor(tmp_path / "ref", redis_client, namespace + "ref")
    reference.score(batches[0], sources(batches[0], 0, partition=1), int(batches[0][-1]["ts"]))
    expected = served(reference.score(batches[1], sources(batches[1], 0), int(batches[1][-1]["ts"])))
    proc = processor(tmp_path, redis_client, namespace)
    other = processor(tmp_path / "other", redis_client, namespace)
    proc.engine.store = InterferingStore(redis_client, proc.engine.store.namespace, other, batches[0])
    out = proc.score(batches[1], sources(batches[1], 0), int(batches[1][-1]["ts"]))
    assert proc.engine.store.commits >= 2 and served(out) == expected
    stored = proc.snapshots.get_many([e["event_id"] for e in batches[1]])
    assert [s.features.tolist() for s in stored] == [s.features.tolist() for s in out.snapshots]


def test_only_stores_that_can_ride_in_the_commit_are_accepted(tmp_path, redis_client, namespace):
    live = processor(tmp_path, redis_client, namespace)
    with pytest.raises(ValueError, match="MemorySnapshots has no `attached`"):
        Processor(live.config, live.engine, live.models, None, MemorySnapshots(), "run", snapshots_with_state=True)
    memory = memory_processor(live.config, "run")
    with pytest.raises(ValueError, match="MemoryStateStore cannot commit snapshots"):
        Processor(live.config, memory.engine, live.models, None, live.snapshots, "run", snapshots_with_state=True)


def test_a_duplicate_older_than_the_dedup_horizon_keeps_the_first_snapshot(tmp_path, redis_client, namespace, batches):
    """Past `features.dedup_horizon` (its id forgotten) a duplicate is applied and scored again
    (docs/operations.md), but its snapshot, which its label learns with, stays the one first
    served (SET NX in the commit): what ClickHouse holds for the event, not a vector served later."""
    proc = processor(tmp_path, redis_client, namespace)
    first = score_all(proc, batches)
    event = batches[0][5]
    before = proc.snapshots.get_many([event["event_id"]])[0]
    redis_client.delete(*redis_client.keys(f"eddy:{{{namespace}}}:seen*"))  # the horizon passed
    again = proc.score([dict(event)], [Source("p.events", PARTITION, 999)], int(batches[-1][-1]["ts"]))
    assert again.scores and again.scores[0]["features"] != next(r for r in first if r[0] == event["event_id"])[4]
    after = proc.snapshots.get_many([event["event_id"]])[0]
    assert after.pack() == before.pack()


@pytest.mark.parametrize("store", ["memory", "replay"])
def test_in_process_stores_keep_the_first_snapshot_too(store):
    from streams.replay.snapshots import ReplaySnapshots
    from streams.snapshots import Snapshot

    snaps = MemorySnapshots() if store == "memory" else ReplaySnapshots(ttl_ms=10_000)
    a = Snapshot.__new__(Snapshot, *[None] * len(Snapshot._fields))._replace(event_id="e1", served_ts=1)
    b = a._replace(served_ts=2)
    snaps.put_many([a])
    snaps.put_many([b])
    assert snaps.get_many(["e1"])[0] is a


def test_a_model_error_in_the_live_commit_dead_letters_only_that_event(tmp_path, redis_client, namespace, batches):
    """On real Redis, where the models predict inside the feature-state commit (`attach`): an event
    a model raises on is dead-lettered (`model_error`), gets no snapshot, and every other event of
    the batch is served and stored."""
    from tests.streams.test_join import _FailsOnLargeAmounts

    proc = processor(tmp_path, redis_client, namespace)
    champion = proc.models.champion_name
    proc.models._models[champion] = _FailsOnLargeAmounts(proc.models.model(champion))
    batch = batches[0]
    bad = {e["event_id"] for e in batch if e["amount"] > 100}
    assert bad and len(bad) < len(batch)
    out = proc.score(batch, sources(batch, 0), int(batch[-1]["ts"]))
    assert [d["error_class"] for d in out.dlq] == ["model_error"] * len(bad)
    stored = proc.snapshots.get_many([e["event_id"] for e in batch])
    assert {e["event_id"] for e, s in zip(batch, stored) if s is not None} == {e["event_id"] for e in batch} - bad
