"""`streams.batch_send.send_batches` on the real broker: every record lands, in order per key, in
the partition aiokafka's own `send` would pick; None keys and a record larger than a batch too."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streams.batch_send import KeyedPartitions, send_batches
from streams.kafka_io import ensure_topics

pytestmark = pytest.mark.integration


async def _roundtrip(kafka: str, topics: list[str], pairs: list[tuple[str, bytes | None, bytes]]) -> dict:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, max_batch_size=16384, max_request_size=1 << 20)
    await producer.start()
    try:
        keyed = KeyedPartitions(producer._partitioner)
        acks = await send_batches(producer, pairs[: len(pairs) // 2], keyed)
        acks += await send_batches(producer, pairs[len(pairs) // 2:], keyed)  # the memo carries over
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    got: dict[TopicPartition, list[tuple[bytes | None, bytes]]] = {}
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(4)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n = 0
        for _ in range(100):
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                got.setdefault(tp, []).extend((m.key, m.value) for m in msgs)
                n += len(msgs)
            if n >= len(pairs):
                break
    finally:
        await consumer.stop()
    return got


def test_records_land_where_aiokafka_puts_them(stack):
    run = uuid.uuid4().hex[:8]
    topics = [f"bs-{run}-a", f"bs-{run}-b"]
    ensure_topics(stack.endpoints.kafka, {t: 4 for t in topics})
    pairs = [(topics[i % 2], f"card-{i % 17}".encode(), f"v{i}".encode()) for i in range(600)]
    pairs += [(topics[0], None, b"no key %d" % i) for i in range(8)]
    pairs.append((topics[1], b"big", b"x" * 40_000))  # larger than a record batch: sent on its own
    got = asyncio.run(_roundtrip(stack.endpoints.kafka, topics, pairs))
    assert sum(map(len, got.values())) == len(pairs)
    part = DefaultPartitioner()
    for topic, key, value in pairs:
        if key is not None:
            assert (key, value) in got[TopicPartition(topic, part(key, [0, 1, 2, 3], [0, 1, 2, 3]))]
    for tp, records in got.items():  # per key, in the order sent
        for key in {k for k, _ in records if k is not None}:
            sent = [v for t, k, v in pairs if t == tp.topic and k == key]
            assert [v for k, v in records if k == key] == sent
    assert sorted(v for recs in got.values() for k, v in recs if k is None) == sorted(v for _, k, v in pairs if k is None)
