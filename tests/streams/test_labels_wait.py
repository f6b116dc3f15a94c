"""`streams.app.labels_wait`: when the labels feed sits out a window (the broker side runs in
tests/integration/test_labels_catch_up.py)."""

from __future__ import annotations

import asyncio

from learners import Learner, ModelSet
from learners.config import JoinConfig, ModelsConfig
from streams.app import labels_wait


def events(behind: bool):
    """`events_behind()`: the one thing `labels_wait` asks about the events."""

    async def events_behind() -> bool:
        return behind

    return events_behind


def learner_with(pending: int, max_pending: int = 1000) -> Learner:
    ms = ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"}))
    learner = Learner(ms, JoinConfig(early_label_wait="1h", max_pending=max_pending))
    for i in range(pending):
        assert learner.learn({"event_id": f"e{i}", "label": 1, "ts": i}, None, now_ms=i).status == "early"
    return learner


def wait(events, learner, ahead=50, batch=100) -> bool:
    return asyncio.run(labels_wait(events, learner, ahead, batch))


def test_catch_up_waits_only_while_the_events_are_behind():
    assert not wait(events(True), learner_with(49))
    assert wait(events(True), learner_with(50))
    assert not wait(events(False), learner_with(50))  # events caught up: these labels are early or orphans
    assert not wait(events(True), learner_with(50), ahead=0)  # 0: never for a catch-up


def test_never_reads_a_batch_the_pending_buffer_could_not_hold():
    """Whatever the events do: a label without room would be an orphan."""
    assert not wait(events(False), learner_with(900), batch=100)
    assert wait(events(False), learner_with(901), batch=100)
    assert wait(events(False), learner_with(901), ahead=0, batch=100)


class FakeRedis:
    """Heartbeats as `read_workers` reads them (SMEMBERS + MGET), a stand-in for unit tests."""

    def __init__(self, workers: list[dict]) -> None:
        import json

        self.data = {f"eddy:{{p}}:worker:h:{i}".encode(): json.dumps(w).encode() for i, w in enumerate(workers)}
        self.calls = 0

    def smembers(self, key: str) -> set:
        self.calls += 1
        return {f"h:{i}".encode() for i in range(len(self.data))}

    def mget(self, keys):
        return [self.data.get(k.encode()) for k in keys]


def beat(roles, *lags, topic="p.events"):
    return {"worker": "h:1", "roles": roles, "lag": [{"topic": topic, "partition": i, "lag": lag} for i, lag in enumerate(lags)]}


def test_a_learner_apart_reads_the_scorers_lag_from_their_heartbeats():
    from streams.observability import ScorersBehind

    def behind(workers, slack=100) -> bool:
        return asyncio.run(ScorersBehind(FakeRedis(workers), "p", "p.events", slack)())

    assert behind([beat(["score", "sink"], 0, 101)])
    assert not behind([beat(["score"], 0, 100), beat(["learn"], 0, 5000)])  # only scorers count
    other = beat(["score"], 5000, topic="p.scores")
    assert not behind([{**other, "lag": other["lag"] + beat(["score"], 0)["lag"]}])  # nor other topics' lag
    assert behind([])  # no scorer seen (none runs, or none fetched yet): assume behind
    assert behind([beat(["learn"], 0)])


def test_heartbeats_are_read_at_most_every_interval():
    from streams.observability import ScorersBehind

    now = [0.0]
    fake = FakeRedis([beat(["score"], 0)])
    behind = ScorersBehind(fake, "p", "p.events", 100, every=1.0, clock=lambda: now[0])
    for t in (0.0, 0.5, 0.9, 1.0, 1.5):
        now[0] = t
        assert asyncio.run(behind()) is False
    assert fake.calls == 2
