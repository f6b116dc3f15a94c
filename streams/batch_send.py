"""Hand many records to an aiokafka producer at once: one record batch per topic partition.

A score batch is ~4 records per event. The per-record path (Faust's send wrapper, aiokafka's
`send` with its debug log call, one future each) was 11% of the worker's samples, so records are
grouped by (topic, partition) and appended to aiokafka batches directly. Partitions come from
the producer's own partitioner, so a key lands where `send` would put it.

aiokafka's default partitioner hashes the key with a pure-Python murmur2 (~2 us a call), and an
event's champion and shadow records share one key: `KeyedPartitions` remembers the partition
of each key per partition layout, so a card seen before costs a dict lookup.

>>> from aiokafka.partitioner import DefaultPartitioner
>>> parts = KeyedPartitions(DefaultPartitioner())
>>> parts(b"card-1", [0, 1, 2, 3], [0, 1, 2, 3]) == DefaultPartitioner()(b"card-1", [0, 1, 2, 3], [0, 1, 2, 3])
True
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

#: ``partitioner(key, all_partitions, available_partitions) -> partition`` (aiokafka's signature)
Partitioner = Callable[[bytes | None, list[int], list[int]], int]


class KeyedPartitions:
    """`partitioner`'s answer for each key, remembered per (all, available) partition layout.

    A key of None is not remembered (aiokafka spreads those at random). At most `limit` keys
    per layout are kept; the memo is cleared when it is full.
    """

    def __init__(self, partitioner: Partitioner, limit: int = 200_000) -> None:
        self.partitioner = partitioner
        self.limit = limit
        self._memo: dict[tuple[tuple[int, ...], tuple[int, ...]], dict[bytes, int]] = {}

    def use(self, partitioner: Partitioner) -> KeyedPartitions:
        """Answer for `partitioner` from now on (forgetting the other's answers if it differs)."""
        if partitioner is not self.partitioner:
            self.partitioner, self._memo = partitioner, {}
        return self

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        return self.layout(all_partitions, available)(key)

    def layout(self, all_partitions: list[int], available: list[int]) -> Callable[[bytes | None], int]:
        """`self` for one layout, as a one-argument function (the per-record path of `send_batches`)."""
        memo = self._memo.setdefault((tuple(all_partitions), tuple(available)), {})
        partitioner, limit = self.partitioner, self.limit

        def partition(key: bytes | None) -> int:
            part = memo.get(key) if key is not None else None
            if part is None:
                part = partitioner(key, all_partitions, available)
                if key is not None:
                    if len(memo) >= limit:
                        memo.clear()
                    memo[key] = part
            return part

        return partition


async def send_batches(producer: Any, pairs: Sequence[tuple[str, bytes | None, bytes]],
                       partitions: KeyedPartitions) -> list[asyncio.Future]:
    """Append `(topic, key, value)` records to `producer` (a started aiokafka producer), one
    record batch per topic partition; returns the futures of their acknowledgements."""
    if not pairs:
        return []
    by_tp: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
    # topic -> its key -> partition function (aiokafka's `_partition` builds two lists per record)
    part_of: dict[str, Callable[[bytes | None], int]] = {}
    for topic, key, value in pairs:
        fn = part_of.get(topic)
        if fn is None:
            await producer.client._wait_on_metadata(topic)
            meta = producer.client.cluster
            fn = part_of[topic] = partitions.layout(list(meta.partitions_for_topic(topic)),
                                                     list(meta.available_partitions_for_topic(topic)))
        by_tp.setdefault((topic, fn(key)), []).append((key, value))
    futures = []
    for (topic, part), items in by_tp.items():
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                if batch.record_count():
                    futures.append(await producer.send_batch(batch, topic, partition=part))
                    batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:  # larger than a batch
                    futures.append(await producer.send(topic, value, key=key, partition=part))
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=part))
    return futures
