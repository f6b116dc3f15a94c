"""`EventFeed`: the score agent's input, `<p>.events` read by one aiokafka consumer-group member.

Faust delivers a message through its consumer thread, the conductor, a per-agent queue and
`take_events` (a processor call, an event object and an ack per message): that path capped a
do-nothing agent at ~14-15k messages/s on the benchmark machine and cost the worker about a
third of its time. The feed reads micro-batches with `getmany` instead and hands each batch
to `handle(messages)` whole; it commits a batch's offsets only after `handle` and the tail it
returns are done (its Redis writes done, its records published and acknowledged, see
"Pipelining"), so delivery stays at least once and the worker's dedup (seen markers in the
feature store, snapshots keyed by source offset, id-keyed ClickHouse tables) makes it exactly
once in effect.

Rebalances: the feed's own group (`<faust group>.events`) splits the partitions between scorer
processes. A revocation waits for the batch in flight and its commit (`_Rebalance`), so a
partition moves with its offsets committed; records fetched for a revoked partition are dropped
by aiokafka. A batch whose commit fails anyway (the group moved on) is redelivered to the new
owner and recognised there as already scored.

Stopping (`stop()`, a worker's SIGTERM): the batch in flight is finished, not cancelled (for up to
`stop_grace` s), the outstanding tails settle and commit, then the consumer leaves its group
(LeaveGroup, in every generation: `leave_in_any_generation`), so the other members take the
partitions over at their next heartbeat instead of after the session timeout, from the offsets
this member committed: nothing it handled is read again.

Pipelining (`depth` > 0, the events): `handle` may return the batch's *tail*, an awaitable of
what is left once its Redis writes are done and its records handed to the producer (waiting for
the broker's acks, counting). The feed then reads and handles the next batch while up to `depth`
tails are outstanding, and commits each batch after its tail and in order; a revocation and a
stop wait for every outstanding tail and its commit. Waiting for acks (and the loop's other work
meanwhile) had become most of a batch's time at paced traffic, and events waited behind it.

When a batch is safe to commit is the one thing a subclass changes (`handled`, `revoking`,
`stopping`): `streams.label_feed.LabelFeed` reads `<p>.labels` the same way and commits only
the offsets a learner checkpoint covers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from streams.kafka_security import KafkaSecurity

log = logging.getLogger("eddy.worker")

#: ``handle(messages)``: score one micro-batch (aiokafka `ConsumerRecord`s, in partition order);
#: it may return the batch's tail (an awaitable, see "Pipelining").
Handler = Callable[[list[Any]], Awaitable[Awaitable[None] | None]]


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        async with self.feed.lock:  # the batch in flight finishes and commits first
            await self.feed.drain()
            await self.feed.revoking(sorted(revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        if self.feed.on_assigned is not None:
            self.feed.on_assigned(sorted(assigned))


def leave_in_any_generation(consumer: AIOKafkaConsumer) -> None:
    """Make the consumer's `stop()` send LeaveGroup in generation 0 too.

    aiokafka leaves only a generation > 0 (Kafka numbers them from 1), and Tansu numbers a group's
    first generation 0: a member stopped in it did not leave, and its partitions waited for the
    session timeout plus a join (~9 s with the default 6 s) before another member took them over.
    Applied once the consumer has started (its coordinator exists): here in `run()`, and to Faust's
    consumers by `streams.app._hook_faust_consumers`.
    """
    coordinator = consumer._coordinator
    leave = coordinator._maybe_leave_group

    async def leave_any() -> None:
        if coordinator.generation == 0:  # heartbeats stopped by now; LeaveGroup names no generation
            coordinator.generation = 1
        await leave()

    coordinator._maybe_leave_group = leave_any


class EventFeed:
    """Consume `topic` (or several topics) in micro-batches as a member of `group`; commit after
    `handle` and its tail.

    `run()` until `stop()` (or cancelled); `commit(offsets)` commits partition -> next offset.
    """

    #: gather a batch for up to one batch window (True) or hand over what one fetch returned (False)
    fill = False
    #: a member that does not poll for this long leaves its group (aiokafka's `max_poll_interval_ms`)
    max_poll_interval = 300.0
    #: at `stop()`, how long the batch in flight may take to finish before it is cancelled
    stop_grace = 10.0

    def __init__(self, servers: str, topic: str | Sequence[str], group: str, handle: Handler, *, batch_size: int,
                 batch_window: float, session_timeout: float, fetch_wait: float | None = None,
                 on_assigned: Callable[[list[TopicPartition]], None] | None = None,
                 on_lag: Callable[[str, int, int | None, int | None], None] | None = None,
                 depth: int = 0) -> None:
        self.servers = servers
        self.topics = [topic] if isinstance(topic, str) else list(topic)
        self.topic = ", ".join(self.topics)  # for the logs
        self.group = group
        self.handle = handle
        self.batch_size = batch_size
        self.wait_ms = max(1, int(batch_window * 1000))
        #: how long a fetch waits at the broker when nothing is there (the latency floor of a quiet stream)
        self.fetch_wait_ms = max(1, int((batch_window if fetch_wait is None else fetch_wait) * 1000))
        self.session_timeout_ms = int(session_timeout * 1000)
        self.on_assigned = on_assigned
        self.on_lag = on_lag
        self.lock = asyncio.Lock()
        self.consumer: AIOKafkaConsumer | None = None
        self.committed: dict[TopicPartition, int] = {}
        self._lag_at = 0.0
        self._task: asyncio.Task | None = None
        #: batches whose tail may still be outstanding while the next one is handled
        self.depth = depth
        self._tails: deque[asyncio.Task] = deque()  # tail + commit of each pipelined batch, oldest first

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.servers,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Tansu answers a fetch only when the wait expires: keep it short (`worker.fetch_wait`).
            fetch_max_wait_ms=self.fetch_wait_ms,
            max_poll_records=self.batch_size,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=min(1000, self.session_timeout_ms // 3),
            rebalance_timeout_ms=20_000,
            max_poll_interval_ms=int(self.max_poll_interval * 1000),
            **KafkaSecurity.from_env().aiokafka(),
        )

    async def run(self, ready: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Consume until `stop()` (or cancelled); the tails settle, `stopping()` runs, then the
        consumer leaves the group. `ready()` is awaited after the consumer started, before the
        first batch is handled."""
        self._task = asyncio.current_task()
        self.consumer = consumer = self._consumer()
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        try:
            await consumer.start()
            leave_in_any_generation(consumer)
            if ready is not None:
                await ready()
            while True:
                batch = await self._next_batch(consumer)
                if batch:
                    async with self.lock:
                        await self._process(consumer, batch)
                self._report_lag(consumer)
        finally:
            try:
                await self._settle_tails()
                await self.stopping()
            finally:
                self.consumer = None
                try:
                    await consumer.stop()
                except (KafkaError, OSError) as exc:  # best effort on the way out
                    log.warning("%s consumer did not stop cleanly (%r)", self.topic, exc)

    async def stop(self) -> None:
        """Stop `run()` and wait until it left the group. The batch in flight finishes first (up
        to `stop_grace` s, then it is cancelled too); a wait for records is cancelled at once."""
        task = self._task
        if task is None or task.done() or task is asyncio.current_task():
            return
        try:
            await asyncio.wait_for(self.lock.acquire(), self.stop_grace)
        except TimeoutError:
            log.warning("%s: the batch in flight did not finish within %.0fs of the stop: cancelled",
                        self.topic, self.stop_grace)
        else:
            self.lock.release()  # the loop is cancelled below before it can take it for another batch
        task.cancel()
        await asyncio.wait([task])

    async def _next_batch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """What is fetched now (at most `batch_size`); with `fill`, up to `batch_size` gathered
        for at most one batch window after the first record (fewer, larger batches)."""
        batch = await consumer.getmany(timeout_ms=self.wait_ms, max_records=self.batch_size)
        if not self.fill or not batch:
            return batch
        n = sum(len(msgs) for msgs in batch.values())
        deadline = time.monotonic() + self.wait_ms / 1000
        while n < self.batch_size and (left := deadline - time.monotonic()) > 0:
            more = await consumer.getmany(timeout_ms=max(1, int(left * 1000)), max_records=self.batch_size - n)
            for tp, msgs in more.items():
                batch.setdefault(tp, []).extend(msgs)
                n += len(msgs)
        return batch

    async def _process(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Any]]) -> None:
        assigned = consumer.assignment()
        batch = {tp: msgs for tp, msgs in batch.items() if msgs and tp in assigned}  # revoked meanwhile: dropped
        if not batch:
            return
        tail = await self.handle([m for tp in sorted(batch) for m in batch[tp]])
        offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}
        if tail is None and not self._tails:
            await self.handled(offsets)
            return
        before = self._tails[-1] if self._tails else None
        self._tails.append(asyncio.ensure_future(self._finish(tail, before, offsets)))
        while self._tails and (len(self._tails) > self.depth or self._tails[0].done()):
            await self._tails.popleft()  # a failed tail (e.g. the broker refused the records) raises here

    async def _finish(self, tail: Awaitable[None] | None, before: asyncio.Task | None,
                      offsets: dict[TopicPartition, int]) -> None:
        """A pipelined batch: its tail, then (after the batch before it) its commit."""
        if tail is not None:
            await tail
        if before is not None:
            await before  # commits stay in batch order; a failure before this one fails it too
        await self.handled(offsets)

    async def drain(self) -> None:
        """Wait for every outstanding tail and its commit (raises the first failure)."""
        while self._tails:
            await self._tails.popleft()

    async def _settle_tails(self, timeout: float = 10.0) -> None:
        """On the way out: let the outstanding tails finish and commit (bounded, best effort)."""
        tails, self._tails = list(self._tails), deque()
        if not tails:
            return
        done, pending = await asyncio.wait(tails, timeout=timeout)
        for t in pending:
            t.cancel()
        failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        if pending or failed:
            log.warning("%s: %d batch(es) in flight not committed at stop (redelivered after a restart and deduped)",
                        self.topic, len(pending) + len(failed))

    def busy(self) -> bool:
        """A batch is being handled, or its tail (acks, commit) is outstanding (a finished tail
        stays queued until the next batch: not busy)."""
        return self.lock.locked() or any(not t.done() for t in self._tails)

    async def behind(self) -> bool:
        """Whether records wait in the topic beyond what this feed consumed (as of the last
        fetch's high watermarks): a backlog. False before the consumer runs."""
        consumer = self.consumer
        if consumer is None:
            return False
        for tp in consumer.assignment():
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            try:  # known at once once the partition is being fetched; not while it is (re)assigned
                position = await asyncio.wait_for(consumer.position(tp), 0.1)
            except (TimeoutError, IllegalStateError):
                continue
            if hw > position:
                return True
        return False

    async def handled(self, offsets: dict[TopicPartition, int]) -> None:
        """A batch was handled (`offsets`: partition -> next offset): here, commit it at once."""
        await self.commit(offsets)

    async def revoking(self, partitions: list[TopicPartition]) -> None:
        """A rebalance takes `partitions` away (the batch in flight is done): nothing more here."""

    async def stopping(self) -> None:
        """The feed stops, still a member of its group: nothing more here."""

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit `offsets` (partition -> next offset to read). A group that rebalanced meanwhile
        refuses it: the partitions' next owner reads from their last commit and dedups the rest."""
        consumer = self.consumer
        if not offsets:
            return
        if consumer is None:
            log.warning("%s offsets %s not committed: the consumer stopped (redelivered and deduped after a restart)",
                        self.topic, offsets)
            return
        try:
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("%s commit refused (%s): the group rebalanced; the new owner dedups the batch", self.topic, exc)
            return
        self.committed.update(offsets)

    def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        if self.on_lag is None:
            return
        now = time.monotonic()
        if now - self._lag_at < 1.0:
            return
        self._lag_at = now
        for tp in consumer.assignment():
            self.on_lag(tp.topic, tp.partition, consumer.highwater(tp), self.committed.get(tp))
