"""`LabelFeed`: the learner's input, `<p>.labels` read like the events (`EventFeed`), committed by checkpoints.

Faust's per-message path for labels (its consumer thread, the conductor, `noack_take`, an ack per
label) cost a `score,learn` worker ~10% of its CPU, and that thread contended for the GIL with
the event loop. The feed is an aiokafka consumer-group member of its own (`<faust group>.labels`,
`getmany` micro-batches); what differs from the events is when offsets are committed:

- after a batch is learned its offsets are only held by the `Checkpointer` (`hold`); they are
  committed (`Checkpointer.commit` is this feed's `commit`) once a checkpoint covering them is
  written and its model events published, so the group's offset never runs ahead of the
  stored models;
- a rebalance revoking the labels partition waits for the batch in flight, then checkpoints
  and commits before the partition moves; the learner then drops its waiting labels
  (`on_released`), and whoever is assigned the partition resumes from that checkpoint;
- at shutdown (`stop()`) the final checkpoint is saved, its model events published (best effort,
  `publish_timeout` s) and the offsets committed before the consumer leaves the group.

After a crash the group resumes from at most the checkpoint's offset: the labels below it are
recognised by offset (`Processor.resume_offsets`), the ones above it learned again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from learners import RegistryConflict
from streams.checkpointer import Checkpointer
from streams.event_feed import EventFeed, Handler

log = logging.getLogger("eddy.worker")

#: while held, the labels consumer still polls (its partitions paused: no label is read) this
#: often, well inside `EventFeed.max_poll_interval` (300 s), so it stays a member of its group
KEEPALIVE_POLL = 30.0


class LabelFeed(EventFeed):
    """Consume `topic` (the labels) as a member of `group`; commit what `checkpoints` covers.

    `flush()` saves a checkpoint and commits (the worker's retrying `Checkpointer.flush`); the
    feed sets `checkpoints.commit` to its own `commit`.

    Batches are gathered for up to a batch window (`fill`): a labels call has a fixed cost (state
    check, snapshot fetch, counters: three Redis round trips) that one-fetch batches of a few
    labels paid ~4x as often. The handler learns a batch in time slices (`streams.time_slices`)
    with the events served in between.

    `hold()` (optional, set by the worker: `streams.app.labels_wait`) says when to read no labels
    for a batch window: while many labels wait for events the scorers have not reached (a
    catch-up, see `worker.labels_ahead`), or while one more batch could overflow the pending
    buffer. The feed then reads nothing; every `keepalive` s it polls with its partitions paused,
    which keeps it a member of its group (aiokafka drops the one buffered fetch of a paused
    partition, fetched again after the hold). `held` counts the windows it sat out.
    """

    fill = True
    #: seconds between the polls of a held feed; well under `max_poll_interval`
    keepalive = KEEPALIVE_POLL

    def __init__(self, servers: str, topic: str, group: str, handle: Handler, checkpoints: Checkpointer,
                 flush: Callable[[], Awaitable[None]], *, publish_timeout: float = 5.0,
                 on_released: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(servers, topic, group, handle, **kwargs)
        self.checkpoints = checkpoints
        self.flush = flush
        #: called once the partitions revoked are checkpointed and committed: the learner drops
        #: what the new owner resumes (`WorkerRuntime.release_learning`)
        self.on_released = on_released
        self.publish_timeout = publish_timeout
        checkpoints.commit = self.commit
        self.hold: Callable[[], Awaitable[bool]] | None = None
        self.held = 0
        self.holding = False
        self._polled = time.monotonic()

    async def _next_batch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        hold = self.hold is not None and await self.hold()
        if hold != self.holding:
            self.holding = hold
            log.info("labels feed %s", "paused: many labels wait for events still behind" if hold else "resumed")
        if not hold:
            self._polled = time.monotonic()
            return await super()._next_batch(consumer)
        # Not reading is the pause: aiokafka keeps at most one fetch per partition buffered.
        # (Its `pause()` drops what was fetched, to fetch it again after `resume()`.)
        if time.monotonic() - self._polled >= self.keepalive:
            await self._poll_paused(consumer)
        await asyncio.sleep(self.wait_ms / 1000)
        self.held += 1
        return {}

    async def _poll_paused(self, consumer: AIOKafkaConsumer) -> None:
        """A poll that returns no record: the group expels a member that never polls, and a label
        read now could find the pending buffer full (it would be orphaned)."""
        self._polled = time.monotonic()
        partitions = consumer.assignment()
        consumer.pause(*partitions)
        try:
            await consumer.getmany(timeout_ms=0)
        finally:  # a rebalance meanwhile: the partitions still assigned (new ones are not paused)
            consumer.resume(*(partitions & consumer.assignment()))

    async def handled(self, offsets: dict[TopicPartition, int]) -> None:
        self.checkpoints.hold(offsets)
        if self.checkpoints.due():
            await self.flush()

    async def revoking(self, partitions: list[TopicPartition]) -> None:
        if partitions:  # checkpoint now: the partition moves with its offsets committed
            await self.flush()
            if self.on_released is not None:
                self.on_released()

    async def stopping(self) -> None:
        try:
            await self.checkpoints.close(self.publish_timeout)
        except (redis.RedisError, RegistryConflict) as exc:
            log.warning("final checkpoint skipped (%s): a restart relearns since the last one", exc)
