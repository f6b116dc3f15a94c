"""`SinkFeed`: the sink's input, a pipeline's topics read like the events (`EventFeed`), committed
once ClickHouse holds them.

The sink reads about five records per event (the event for the archive, a score per model, the
label), and Faust's per-message path (`take_events`: a processor call, an event object and an ack
per message) caps an agent at ~14-15k messages/s on the benchmark machine. The feed is an aiokafka
consumer-group member of its own (`<faust group>.sink`) instead: `getmany` batches of up to
`sink.batch_rows` records, gathered for up to `sink.flush_interval` s, decoded by the
`SinkRouter` and written in one flush; their offsets are committed only after the flush.

ClickHouse down: the batch in hand is held (not committed) and its flush retried with backoff
(0.2 s doubling to 5 s); the feed reads nothing more meanwhile, so Kafka keeps the records
(backpressure). A stop during the outage does not wait for ClickHouse: the held batch is left
uncommitted and read again by the partitions' next owner or after a restart. Rows ClickHouse
already has are skipped on the second write (the sink's id-keyed dedup), so a batch written half
before a crash is written once too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from streams.event_feed import EventFeed

log = logging.getLogger("eddy.sink")

#: first and longest wait between two flushes of a held batch (s)
RETRY_FIRST, RETRY_MAX = 0.2, 5.0
#: records decoded per turn of the event loop (~5 ms of work), so a batch never holds it for long
ROUTE_SLICE = 200
#: in a process that also scores: how long a slice waits for the scorer to be idle, in steps (s)
YIELD_MAX, YIELD_STEP = 1.0, 0.005


class SinkFeed(EventFeed):
    """Consume `topics` as a member of `group`; write each batch through `router`, then commit it.

    `router` is a `streams.sink_rows.SinkRouter` (`route(messages, now_ms)`, `flush_blocking(now_ms)`:
    False while ClickHouse is down); `metrics` a `WorkerMetrics` (sink batches, ClickHouse errors).
    """

    fill = True

    def __init__(self, servers: str, topics: Sequence[str], group: str, router: Any, metrics: Any, *,
                 clock: Callable[[], int], yield_to: Callable[[], bool] | None = None, **kwargs: Any) -> None:
        super().__init__(servers, topics, group, self.write, depth=1, **kwargs)
        self.router = router
        self.metrics = metrics
        self.clock = clock
        #: True while work that comes first is in hand (a scorer of the same process: `EventFeed.busy`)
        self.yield_to = yield_to
        #: ClickHouse refused a batch: it is held and retried
        self.holding = False
        self._flushing: asyncio.Future | None = None  # the last batch's flush (flushes run one at a time)

    async def write(self, messages: list[Any]) -> Awaitable[None]:
        """Route `messages` to table rows; returns their flush (the batch's tail), which starts once
        the previous batch's flush is done. The feed reads and routes the next batch meanwhile
        (`depth` 1) and commits each batch after its flush."""
        for i in range(0, len(messages), ROUTE_SLICE):
            await self._make_way()
            self.router.route([(m.topic, m.partition, m.offset, m.value or b"")
                               for m in messages[i:i + ROUTE_SLICE]], self.clock())
        self._flushing = asyncio.ensure_future(self._flush(self._flushing, [m.topic for m in messages]))
        return self._flushing

    async def _make_way(self) -> None:
        """Let the loop run what waits (a slice at a time), and a scorer of this process first: its
        latency never waits on analytics. While it is busy (a backlog) the slice waits up to
        `YIELD_MAX` s, so the sink still moves, slowly, and stays a live member of its group."""
        waited = 0.0
        while self.yield_to is not None and waited < YIELD_MAX and self.yield_to():
            await asyncio.sleep(YIELD_STEP)
            waited += YIELD_STEP
        await asyncio.sleep(0)

    async def _flush(self, before: asyncio.Future | None, topics: list[str]) -> None:
        """Write what is buffered (in a thread: ClickHouse I/O must not block the loop), retrying
        until ClickHouse takes it."""
        if before is not None:
            await before  # its failure (a cancelled stop) fails this one too: neither is committed
        loop = asyncio.get_running_loop()
        delay = RETRY_FIRST
        t_flush = time.perf_counter()
        while not await loop.run_in_executor(None, self.router.flush_blocking, self.clock()):
            self.holding = True
            self.metrics.clickhouse_error("sink flush failed")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
        self.holding = False
        self.metrics.observe_sink_batch(topics, flush_s=time.perf_counter() - t_flush)

    async def stop(self) -> None:
        """Stop (`EventFeed.stop`); while ClickHouse is down the held flushes are cancelled first, so
        the batch in flight ends at once instead of after `stop_grace`: nothing it held is
        committed, and its records are read again after a restart."""
        if self.holding:
            log.warning("sink stopping while ClickHouse is unavailable: %d buffered rows not written; their "
                        "records are not committed and are written after a restart", self.router.sink.buffered)
            for pending in (*self._tails, self._flushing):
                if pending is not None:
                    pending.cancel()
        await super().stop()
