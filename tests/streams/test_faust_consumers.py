"""`streams.app._hook_faust_consumers`: the aiokafka consumers Faust's driver builds for the worker
(the leader assignor's topic) long-poll for the batch window and leave their group at stop in Tansu's
generation 0 too, as the events and labels feeds do; nothing changes in Kafka's generations (from
1) nor for a member that never joined. The broker side runs in tests/integration/test_graceful_stop.py."""

from __future__ import annotations

import asyncio

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams.app import _hook_faust_consumers


class Coordinator:
    """aiokafka's `GroupCoordinator` as far as leaving goes."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.leaves: list[int] = []  # the generation of each LeaveGroup sent

    async def _maybe_leave_group(self) -> None:  # aiokafka: only a generation > 0 leaves
        if self.generation > 0:
            self.leaves.append(self.generation)
        self.generation = -1  # reset_generation()


class Consumer:
    """An `AIOKafkaConsumer`: its coordinator is built by `start()`, `stop()` closes it."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self._fetch_max_wait_ms = 1500  # Faust's hardcoded wait
        self._coordinator: Coordinator | None = None

    async def start(self) -> None:
        self._coordinator = Coordinator(self.generation)

    async def stop(self) -> None:
        assert self._coordinator is not None
        await self._coordinator._maybe_leave_group()


def faust_consumer(monkeypatch: pytest.MonkeyPatch, generation: int) -> Consumer:
    """A consumer as Faust's consumer thread creates it in a worker, hooked; it starts, then stops."""
    thread_cls = AIOKafkaConsumerThread
    monkeypatch.setattr(thread_cls, "_create_worker_consumer", thread_cls._create_worker_consumer)  # undone after
    monkeypatch.setattr(thread_cls, "_eddy_original_create", lambda self, transport: Consumer(generation),
                        raising=False)
    _hook_faust_consumers(40)
    consumer = thread_cls._create_worker_consumer(None, None)

    async def go() -> None:
        await consumer.start()
        await consumer.stop()

    asyncio.run(go())
    return consumer


def test_a_faust_consumer_leaves_in_generation_0(monkeypatch):
    consumer = faust_consumer(monkeypatch, generation=0)  # Tansu's first generation
    assert consumer._coordinator.leaves == [1]
    assert consumer._coordinator.generation == -1
    assert consumer._fetch_max_wait_ms == 40


def test_a_faust_consumer_leaves_kafkas_generations_as_before(monkeypatch):
    assert faust_consumer(monkeypatch, generation=1)._coordinator.leaves == [1]
    assert faust_consumer(monkeypatch, generation=7)._coordinator.leaves == [7]


def test_a_faust_consumer_that_never_joined_does_not_leave(monkeypatch):
    assert faust_consumer(monkeypatch, generation=-1)._coordinator.leaves == []

