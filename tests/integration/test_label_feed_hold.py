"""A held `LabelFeed` on the real broker reads no label, yet stays in its group past aiokafka's
`max_poll_interval`; released, it reads every label with no rebalance in between."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from streams.checkpointer import Checkpointer
from streams.kafka_io import ensure_topics
from streams.label_feed import LabelFeed

pytestmark = pytest.mark.integration

LABELS = 40
HELD_FOR = 4.0  # seconds, well past the feed's max_poll_interval below


async def _hold_then_release(kafka: str, topic: str, keepalive: float) -> tuple[int, list[bytes], int]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, b"label %d" % i, partition=0) for i in range(LABELS)])
    finally:
        await producer.stop()

    got: list[bytes] = []
    assignments: list[list] = []
    hold = True

    async def handle(batch: list) -> None:
        got.extend(m.value for m in batch)

    async def held() -> bool:
        return hold

    ck = Checkpointer(lambda actions: None, 1000, 60.0)
    feed = LabelFeed(kafka, topic, f"g-{topic}", handle, ck, ck.flush, batch_size=10, batch_window=0.05,
                     session_timeout=2.0, on_assigned=assignments.append)
    feed.keepalive, feed.max_poll_interval = keepalive, 1.5
    feed.hold = held
    task = asyncio.create_task(feed.run())
    try:
        deadline = time.monotonic() + 30
        while not assignments and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert assignments, "the labels feed never joined its group"
        await asyncio.sleep(HELD_FOR)
        during = len(got)
        hold = False
        deadline = time.monotonic() + 30
        while len(got) < LABELS and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await feed.stop()
        await task if not task.done() else None
    return during, got, len(assignments)


def test_a_held_feed_reads_nothing_and_keeps_its_membership(stack):
    topic = f"hold-{uuid.uuid4().hex[:8]}"
    ensure_topics(stack.endpoints.kafka, {topic: 1})
    during, got, joins = asyncio.run(_hold_then_release(stack.endpoints.kafka, topic, keepalive=0.25))
    assert during == 0  # the keep-alive polls returned no label: none could meet a full pending buffer
    assert got == [b"label %d" % i for i in range(LABELS)]
    assert joins == 1  # never expelled for not polling, so never assigned again
