"""`streams.event_feed.EventFeed` pipelining: a batch's tail (acks, counters) may still be
outstanding while the next batch is handled; commits stay in batch order, each after its tail;
a failed tail fails the feed; a revocation and a stop wait for every tail (the broker side runs
in tests/integration and tests/reliability)."""

from __future__ import annotations

import asyncio
from collections import namedtuple

import pytest
from aiokafka import TopicPartition

from streams.event_feed import EventFeed

P0, P1 = TopicPartition("p.events", 0), TopicPartition("p.events", 1)
Msg = namedtuple("Msg", "topic partition offset")


class FakeConsumer:
    """Records commits (a fake for aiokafka's consumer, unit tests only)."""

    def __init__(self) -> None:
        self.commits: list[dict] = []

    def assignment(self) -> set:
        return {P0, P1}

    async def commit(self, offsets: dict) -> None:
        await asyncio.sleep(0)
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


def batch(tp: TopicPartition, first: int, n: int) -> dict:
    return {tp: [Msg(tp.topic, tp.partition, o) for o in range(first, first + n)]}


class Tails:
    """A handler whose batches finish (their tail) only when the test releases them."""

    def __init__(self) -> None:
        self.handled: list[int] = []
        self.gates: list[asyncio.Event] = []
        self.fail: set[int] = set()

    async def handle(self, messages: list) -> object:
        k = len(self.handled)
        self.handled.append(messages[0].offset)
        gate = asyncio.Event()
        self.gates.append(gate)

        async def tail() -> None:
            await gate.wait()
            if k in self.fail:
                raise RuntimeError(f"batch {k}: the broker refused its records")

        return tail()


def make(depth: int) -> tuple[EventFeed, Tails, FakeConsumer]:
    tails = Tails()
    feed = EventFeed("127.0.0.1:9", "p.events", "g.events", tails.handle, batch_size=10, batch_window=0.05,
                     session_timeout=6.0, depth=depth)
    feed.consumer = consumer = FakeConsumer()
    return feed, tails, consumer


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_the_next_batch_is_handled_while_tails_are_outstanding_and_commits_keep_order():
    async def go() -> None:
        feed, tails, consumer = make(depth=2)
        await feed._process(consumer, batch(P0, 0, 5))
        await feed._process(consumer, batch(P1, 0, 3))
        assert tails.handled == [0, 0] and consumer.commits == []  # both handled, neither acked yet
        tails.gates[1].set()  # the second batch's acks come first ...
        await settle()
        assert consumer.commits == []  # ... but it commits only after the first
        tails.gates[0].set()
        await settle()
        assert consumer.commits == [{P0: 5}, {P1: 3}]

    asyncio.run(go())


def test_depth_bounds_the_outstanding_tails():
    async def go() -> None:
        feed, tails, consumer = make(depth=1)
        await feed._process(consumer, batch(P0, 0, 5))
        third = asyncio.ensure_future(feed._process(consumer, batch(P0, 5, 5)))  # waits for the first tail
        await settle()
        assert not third.done() and tails.handled == [0, 5]
        tails.gates[0].set()
        await settle()
        assert third.done() and consumer.commits == [{P0: 5}]
        tails.gates[1].set()
        await feed.drain()
        assert consumer.commits == [{P0: 5}, {P0: 10}]

    asyncio.run(go())


def test_busy_while_a_batch_or_its_tail_is_outstanding_not_after():
    async def go() -> None:
        feed, tails, consumer = make(depth=2)
        assert not feed.busy()
        await feed._process(consumer, batch(P0, 0, 5))
        assert feed.busy()  # its tail (acks, commit) is outstanding
        tails.gates[0].set()
        await settle()
        assert consumer.commits == [{P0: 5}] and feed._tails  # done, queued until the next batch ...
        assert not feed.busy()  # ... and idle: a sink of the same process may go on
        async with feed.lock:
            assert feed.busy()  # a batch in hand

    asyncio.run(go())


def test_depth_zero_commits_each_batch_before_the_next():
    async def go() -> None:
        feed, tails, consumer = make(depth=0)
        first = asyncio.ensure_future(feed._process(consumer, batch(P0, 0, 5)))
        await settle()
        assert not first.done()
        tails.gates[0].set()
        await first
        assert consumer.commits == [{P0: 5}]

    asyncio.run(go())


def test_a_failed_tail_fails_the_feed_and_commits_nothing_after_it():
    async def go() -> None:
        feed, tails, consumer = make(depth=2)
        tails.fail = {0}
        await feed._process(consumer, batch(P0, 0, 5))
        await feed._process(consumer, batch(P0, 5, 5))
        tails.gates[1].set()
        tails.gates[0].set()
        await settle()
        with pytest.raises(RuntimeError, match="refused"):
            await feed._process(consumer, batch(P0, 10, 5))
        with pytest.raises(RuntimeError, match="refused"):
            await feed.drain()  # the batch after it failed too: never committed ahead of a loss
        assert consumer.commits == []

    asyncio.run(go())


def test_a_revocation_waits_for_every_tail_and_its_commit():
    from streams.event_feed import _Rebalance

    async def go() -> None:
        feed, tails, consumer = make(depth=2)
        await feed._process(consumer, batch(P0, 0, 5))
        await feed._process(consumer, batch(P1, 0, 2))
        revoke = asyncio.ensure_future(_Rebalance(feed).on_partitions_revoked([P0, P1]))
        await settle()
        assert not revoke.done()
        for gate in tails.gates:
            gate.set()
        await revoke
        assert consumer.commits == [{P0: 5}, {P1: 2}]

    asyncio.run(go())


def test_a_stop_settles_the_outstanding_tails():
    async def go() -> None:
        feed, tails, consumer = make(depth=2)
        await feed._process(consumer, batch(P0, 0, 5))
        tails.gates[0].set()
        await feed._settle_tails(timeout=1.0)
        assert consumer.commits == [{P0: 5}]
        await feed._process(consumer, batch(P0, 5, 5))  # never acked: given up after the timeout
        await feed._settle_tails(timeout=0.05)
        assert consumer.commits == [{P0: 5}]

    asyncio.run(go())


class GroupConsumer(FakeConsumer):
    """`run()`'s consumer: one batch, then nothing; leaves its group at `stop()` as aiokafka does
    (only in a generation > 0), in generation 0 here, Tansu's first."""

    def __init__(self, first: dict) -> None:
        super().__init__()
        self.first = first
        self.left = self.stopped = False

    def subscribe(self, topics: list, listener: object) -> None:
        pass

    async def start(self) -> None:
        consumer = self

        class Coordinator:
            generation = 0

            async def _maybe_leave_group(self) -> None:
                consumer.left = self.generation > 0

        self._coordinator = Coordinator()

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        if self.first:
            first, self.first = self.first, {}
            return first
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def highwater(self, tp: TopicPartition) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True
        await self._coordinator._maybe_leave_group()


def running(depth: int) -> tuple[EventFeed, Tails, GroupConsumer]:
    feed, tails, _ = make(depth)
    consumer = GroupConsumer(batch(P0, 0, 5))
    feed._consumer = lambda: consumer
    return feed, tails, consumer


def test_a_stop_finishes_the_batch_in_flight_commits_it_and_leaves_the_group():
    async def go() -> None:
        feed, tails, consumer = running(depth=0)
        run = asyncio.ensure_future(feed.run())
        await settle()
        assert tails.handled == [0]  # its tail (the acks) outstanding
        stop = asyncio.ensure_future(feed.stop())
        await settle()
        assert not stop.done() and not consumer.stopped  # not cancelled mid-batch
        tails.gates[0].set()
        await stop
        assert run.done() and consumer.commits == [{P0: 5}]
        assert consumer.stopped and consumer.left  # LeaveGroup in generation 0 too

    asyncio.run(go())


def test_a_stop_cancels_a_batch_in_flight_after_the_grace():
    async def go() -> None:
        feed, _, consumer = running(depth=0)
        feed.stop_grace = 0.05
        run = asyncio.ensure_future(feed.run())
        await settle()
        await asyncio.wait_for(feed.stop(), 1.0)  # its acks never come
        assert run.done() and consumer.commits == [] and consumer.stopped and consumer.left

    asyncio.run(go())


def test_a_stop_while_waiting_for_records_leaves_at_once():
    async def go() -> None:
        feed, tails, consumer = running(depth=0)
        consumer.first = {}
        run = asyncio.ensure_future(feed.run())
        await settle()
        await asyncio.wait_for(feed.stop(), 1.0)
        assert run.done() and tails.handled == [] and consumer.left

    asyncio.run(go())
