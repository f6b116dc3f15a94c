"""`streams.app.labels_wait`: when the labels feed sits out a window (the broker side runs in
tests/integration/test_labels_catch_up.py)."""

from __future__ import annotations

import asyncio

from learners import Learner, ModelSet
from learners.config import JoinConfig, ModelsConfig
from streams.app import labels_wait


class Events:
    """The one thing `labels_wait` asks of the events feed."""

    def __init__(self, behind: bool) -> None:
        self._behind = behind

    async def behind(self) -> bool:
        return self._behind


def learner_with(pending: int, max_pending: int = 1000) -> Learner:
    ms = ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"}))
    learner = Learner(ms, JoinConfig(early_label_wait="1h", max_pending=max_pending))
    for i in range(pending):
        assert learner.learn({"event_id": f"e{i}", "label": 1, "ts": i}, None, now_ms=i).status == "early"
    return learner


def wait(events, learner, ahead=50, batch=100) -> bool:
    return asyncio.run(labels_wait(events, learner, ahead, batch))


def test_catch_up_waits_only_while_the_events_are_behind():
    assert not wait(Events(True), learner_with(49))
    assert wait(Events(True), learner_with(50))
    assert not wait(Events(False), learner_with(50))  # events caught up: these labels are early or orphans
    assert not wait(Events(True), learner_with(50), ahead=0)  # 0: never for a catch-up


def test_never_reads_a_batch_the_pending_buffer_could_not_hold():
    """A learn-only worker (no events feed) too: a label without room would be an orphan."""
    assert not wait(None, learner_with(900), batch=100)
    assert wait(None, learner_with(901), batch=100)
    assert wait(Events(False), learner_with(901), ahead=0, batch=100)
