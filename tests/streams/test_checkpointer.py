"""`streams.app.Checkpointer`: throttled learner checkpoints, label acks held until one is written."""

from __future__ import annotations

import asyncio

import pytest

from streams.app import Checkpointer


class FakeStream:
    """Records acks (a fake for Faust's stream, unit tests only)."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    async def ack(self, event: int) -> bool:
        self.acked.append(event)
        return True


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(every: int = 3, interval: float = 1.0):
    saves: list[list[dict]] = []
    published: list[int] = []
    clock = Clock()
    ck = Checkpointer(lambda actions: saves.append(list(actions)), every, interval,
                      after_save=lambda: published.append(len(saves)), clock=clock)
    return ck, saves, published, clock


def test_saves_after_every_n_labels_or_interval_and_acks_only_then():
    ck, saves, published, clock = make()
    stream = FakeStream()
    ck.note(2)
    ck.hold(stream, [1, 2])
    assert not ck.due()
    clock.t = 1.5
    assert ck.due()  # the interval passed
    asyncio.run(ck.flush())
    assert saves == [[]] and stream.acked == [1, 2] and published == [1]
    ck.note(3)
    ck.hold(stream, [3, 4, 5])
    assert ck.due()  # `every` labels
    asyncio.run(ck.flush())
    assert len(saves) == 2 and stream.acked == [1, 2, 3, 4, 5]
    clock.t = 10.0
    assert not ck.due()  # nothing changed, nothing held


def test_drift_actions_and_urgent_save_at_once():
    ck, saves, _published, _clock = make(every=100)
    ck.note(1, [{"model": "lr", "action": "reset"}])
    assert ck.due()
    asyncio.run(ck.flush())
    assert saves == [[{"model": "lr", "action": "reset"}]]
    ck.note(1)
    assert not ck.due()
    ck.urgent = True
    assert ck.due()


def test_failed_save_keeps_the_acks_held():
    stream = FakeStream()

    def boom(actions: list[dict]) -> None:
        raise ConnectionError("redis down")

    ck = Checkpointer(boom, 1, 1.0)
    ck.note(1)
    ck.hold(stream, [7])
    with pytest.raises(ConnectionError):
        asyncio.run(ck.flush())
    assert stream.acked == [] and ck.due()


def test_held_acks_without_changes_are_given_without_a_save():
    ck, saves, _published, clock = make()
    stream = FakeStream()
    ck.hold(stream, [9])  # e.g. a batch of dead-lettered labels
    clock.t = 2.0
    assert ck.due()
    asyncio.run(ck.flush())
    assert saves == [] and stream.acked == [9]


def test_acks_of_a_saved_checkpoint_survive_a_failed_publish_of_its_model_events():
    """The checkpoint covering the held labels is written; if publishing its model events then
    fails (broker down: housekeeping logs it and carries on), the acks must not be dropped, or
    the labels partition never commits past them (and a rebalance waits for them)."""
    stream = FakeStream()
    saves: list[list[dict]] = []
    fail = [True]

    async def publish() -> None:
        if fail[0]:
            raise ConnectionError("broker down")

    clock = Clock()
    ck = Checkpointer(lambda actions: saves.append(list(actions)), 1, 1.0, after_save=publish, clock=clock)
    ck.note(1)
    ck.hold(stream, [7, 8])
    with pytest.raises(ConnectionError):
        asyncio.run(ck.flush())
    assert saves == [[]] and stream.acked == []
    clock.t = 1.5
    assert ck.due()  # still acks to give
    fail[0] = False
    asyncio.run(ck.flush())
    assert stream.acked == [7, 8]
    assert len(saves) == 1  # nothing new to save: the first checkpoint covers them
