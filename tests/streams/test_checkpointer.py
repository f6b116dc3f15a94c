"""`streams.checkpointer.Checkpointer`: throttled learner checkpoints, labels offsets committed only after one."""

from __future__ import annotations

import asyncio

import pytest

from streams.checkpointer import Checkpointer


class FakeCommits:
    """Records commits (a fake for the labels feed's `commit`, unit tests only)."""

    def __init__(self) -> None:
        self.committed: list[dict] = []

    async def __call__(self, offsets: dict) -> None:
        self.committed.append(dict(offsets))


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def redis_down(actions: list[dict]) -> None:
    raise ConnectionError("redis down")


def make(every: int = 3, interval: float = 1.0):
    saves: list[list[dict]] = []
    published: list[int] = []
    commits = FakeCommits()
    clock = Clock()
    ck = Checkpointer(lambda actions: saves.append(list(actions)), every, interval,
                      after_save=lambda: published.append(len(saves)), commit=commits, clock=clock)
    return ck, saves, published, commits, clock


def test_saves_after_every_n_labels_or_interval_and_commits_only_then():
    ck, saves, published, commits, clock = make()
    ck.note(2)
    ck.hold({("labels", 0): 2})
    assert not ck.due()
    clock.t = 1.5
    assert ck.due()  # the interval passed
    asyncio.run(ck.flush())
    assert saves == [[]] and published == [1] and commits.committed == [{("labels", 0): 2}]
    ck.note(3)
    ck.hold({("labels", 0): 4})
    ck.hold({("labels", 0): 5})
    assert ck.due()  # `every` labels
    asyncio.run(ck.flush())
    assert len(saves) == 2 and commits.committed[-1] == {("labels", 0): 5}  # the newest offset of the partition
    clock.t = 10.0
    assert not ck.due()  # nothing changed, nothing held


def test_held_offsets_never_go_back():
    ck, _saves, _published, commits, _clock = make()
    ck.hold({("labels", 0): 9, ("labels", 1): 3})
    ck.hold({("labels", 0): 4})
    asyncio.run(ck.flush())
    assert commits.committed == [{("labels", 0): 9, ("labels", 1): 3}]


def test_drift_actions_save_at_once():
    ck, saves, _published, _commits, _clock = make(every=100)
    ck.note(1, [{"model": "lr", "action": "reset"}])
    assert ck.due()
    asyncio.run(ck.flush())
    assert saves == [[{"model": "lr", "action": "reset"}]]
    ck.note(1)
    assert not ck.due()


@pytest.mark.parametrize("final", [False, True], ids=["flush", "close"])
def test_a_failed_save_commits_nothing(final: bool):
    commits = FakeCommits()
    ck = Checkpointer(redis_down, 1, 1.0, commit=commits)
    ck.note(1)
    ck.hold({("labels", 0): 8})
    with pytest.raises(ConnectionError):
        asyncio.run(ck.close(publish_timeout=1.0) if final else ck.flush())
    assert commits.committed == []
    assert final or ck.due()  # a flush keeps them held for the next one


def test_held_offsets_without_changes_are_committed_without_a_save():
    ck, saves, _published, commits, clock = make()
    ck.hold({("labels", 0): 10})  # e.g. a batch of dead-lettered labels
    clock.t = 2.0
    assert ck.due()
    asyncio.run(ck.flush())
    assert saves == [] and commits.committed == [{("labels", 0): 10}]


def test_offsets_of_a_saved_checkpoint_survive_a_failed_publish_of_its_model_events():
    """The checkpoint covering the held labels is written; if publishing its model events then
    fails (broker down: housekeeping logs it and carries on), the offsets must not be dropped, or
    the labels group never commits past them."""
    saves: list[list[dict]] = []
    commits = FakeCommits()
    fail = [True]

    async def publish() -> None:
        if fail[0]:
            raise ConnectionError("broker down")

    clock = Clock()
    ck = Checkpointer(lambda actions: saves.append(list(actions)), 1, 1.0, after_save=publish, commit=commits,
                      clock=clock)
    ck.note(1)
    ck.hold({("labels", 0): 9})
    with pytest.raises(ConnectionError):
        asyncio.run(ck.flush())
    assert saves == [[]] and commits.committed == []
    clock.t = 1.5
    assert ck.due()  # still offsets to commit
    fail[0] = False
    asyncio.run(ck.flush())
    assert commits.committed == [{("labels", 0): 9}]
    assert len(saves) == 1  # nothing new to save: the first checkpoint covers them


def test_a_failed_commit_keeps_the_offsets_held():
    ck, saves, _published, _commits, clock = make()

    async def refused(offsets: dict) -> None:
        raise ConnectionError("coordinator unreachable")

    ck.commit = refused
    ck.note(3)
    ck.hold({("labels", 0): 3})
    with pytest.raises(ConnectionError):
        asyncio.run(ck.flush())
    ck.commit = commits = FakeCommits()
    clock.t = 1.5
    assert ck.due()
    asyncio.run(ck.flush())
    assert commits.committed == [{("labels", 0): 3}] and len(saves) == 1


def test_flushes_run_one_at_a_time_and_commit_in_order():
    """The labels feed, the events feed (early labels) and housekeeping all flush: a flush that
    started later never commits before (and so under) one still publishing its model events."""
    publishes: list[int] = []
    commits = FakeCommits()
    gate = asyncio.Event()

    async def publish() -> None:
        publishes.append(len(publishes))
        if len(publishes) == 1:
            await gate.wait()  # the first flush is slow to publish

    ck = Checkpointer(lambda actions: None, 1, 1.0, after_save=publish, commit=commits)

    async def scenario() -> None:
        ck.note(1)
        ck.hold({("labels", 0): 5})
        first = asyncio.create_task(ck.flush())
        await asyncio.sleep(0)
        ck.note(1)
        ck.hold({("labels", 0): 7})
        second = asyncio.create_task(ck.flush())
        await asyncio.sleep(0.01)
        assert commits.committed == []  # the second waits for the first
        gate.set()
        await asyncio.gather(first, second)

    asyncio.run(scenario())
    assert commits.committed == [{("labels", 0): 5}, {("labels", 0): 7}]


def test_close_commits_after_the_final_save_even_if_its_events_stay_unpublished():
    saves: list[list[dict]] = []
    commits = FakeCommits()

    async def stuck() -> None:
        await asyncio.sleep(60)  # the broker does not answer

    ck = Checkpointer(lambda actions: saves.append(list(actions)), 100, 100.0, after_save=stuck, commit=commits)
    ck.note(2)
    ck.hold({("labels", 0): 2})
    asyncio.run(ck.close(publish_timeout=0.05))
    assert saves == [[]] and commits.committed == [{("labels", 0): 2}]
