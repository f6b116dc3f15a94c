"""`streams.label_feed.LabelFeed`: labels offsets committed when a checkpoint covers them, at a
revocation and at shutdown (the broker side runs in tests/integration and tests/reliability)."""

from __future__ import annotations

import asyncio

import redis
from aiokafka import TopicPartition

from streams.checkpointer import Checkpointer
from streams.label_feed import LabelFeed

TP = TopicPartition("p.labels", 0)


class FakeConsumer:
    """Records commits (a fake for aiokafka's consumer, unit tests only)."""

    def __init__(self) -> None:
        self.commits: list[dict] = []

    async def commit(self, offsets: dict) -> None:
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def _noop(batch: list) -> None:
    return None


def make(save=None, every: int = 100):
    saves: list[list[dict]] = []
    clock = Clock()
    ck = Checkpointer(save or (lambda actions: saves.append(list(actions))), every, 1.0, clock=clock)
    feed = LabelFeed("127.0.0.1:9", "p.labels", "g.labels", _noop, ck, ck.flush, batch_size=10, batch_window=0.05,
                     session_timeout=6.0)
    feed.consumer = FakeConsumer()
    return feed, ck, saves, clock


def test_a_learned_batch_is_committed_only_with_the_next_checkpoint():
    feed, ck, saves, clock = make()
    ck.note(3)
    asyncio.run(feed.handled({TP: 3}))
    assert feed.consumer.commits == [] and saves == []  # not due yet: held
    clock.t = 1.5
    ck.note(2)
    asyncio.run(feed.handled({TP: 5}))
    assert saves == [[]] and feed.consumer.commits == [{TP: 5}] and feed.committed == {TP: 5}


def test_a_revocation_checkpoints_and_commits_at_once():
    feed, ck, saves, _clock = make()
    ck.note(1)
    asyncio.run(feed.handled({TP: 1}))
    asyncio.run(feed.revoking([TP]))
    assert saves == [[]] and feed.consumer.commits == [{TP: 1}]


def test_shutdown_saves_the_final_checkpoint_then_commits():
    feed, ck, saves, _clock = make()
    ck.note(4)
    asyncio.run(feed.handled({TP: 4}))
    asyncio.run(feed.stopping())
    assert saves == [[]] and feed.consumer.commits == [{TP: 4}]


def test_shutdown_with_redis_down_commits_nothing():
    def down(actions: list[dict]) -> None:
        raise redis.ConnectionError("redis down")

    feed, ck, _saves, _clock = make(save=down)
    ck.note(1)
    asyncio.run(feed.handled({TP: 1}))
    asyncio.run(feed.stopping())  # logged, not raised: a restart relearns since the last checkpoint
    assert feed.consumer.commits == []


def test_a_commit_after_the_consumer_stopped_is_dropped():
    feed, ck, _saves, clock = make()
    feed.consumer = None
    ck.note(1)
    ck.hold({TP: 1})
    clock.t = 2.0
    asyncio.run(ck.flush())  # logged: the labels are redelivered and recognised by offset after a restart
