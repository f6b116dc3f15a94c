"""`streams.sink_feed.SinkFeed`: a batch is committed only after ClickHouse took it; while
ClickHouse refuses it the batch is held and retried; a stop during the outage does not wait and
commits nothing (the broker side: tests/reliability/test_clickhouse_outage.py)."""

from __future__ import annotations

import asyncio
import time
from collections import namedtuple

from aiokafka import TopicPartition

from streams import sink_feed
from streams.sink_feed import SinkFeed

P0 = TopicPartition("p.scores", 0)
Msg = namedtuple("Msg", "topic partition offset value")


class FakeConsumer:
    """Records commits (a fake for aiokafka's consumer, unit tests only)."""

    def __init__(self) -> None:
        self.commits: list[dict] = []

    def assignment(self) -> set:
        return {P0}

    async def commit(self, offsets: dict) -> None:
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


class FakeRouter:
    """A `SinkRouter` whose ClickHouse refuses the first `down` flushes (a fake, unit tests only)."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.routed: list[tuple] = []
        self.flushes = 0
        self.sink = type("FakeSink", (), {"buffered": 0})()

    def route(self, messages: list[tuple], now_ms: int) -> None:
        self.routed.extend(messages)
        self.sink.buffered += len(messages)

    def flush_blocking(self, now_ms: int) -> bool:
        self.flushes += 1
        if self.flushes <= self.down:
            return False
        self.sink.buffered = 0
        return True


class FakeMetrics:
    """Counts what the feed reports (a fake for `WorkerMetrics`, unit tests only)."""

    def __init__(self) -> None:
        self.errors = 0
        self.batches: list[list[str]] = []

    def clickhouse_error(self, detail: str = "") -> None:
        self.errors += 1

    def observe_sink_batch(self, topics: list[str], *, flush_s: float | None = None) -> None:
        self.batches.append(list(topics))


def make(down: int) -> tuple[SinkFeed, FakeRouter, FakeMetrics, FakeConsumer]:
    router, metrics = FakeRouter(down), FakeMetrics()
    feed = SinkFeed("127.0.0.1:9", ["p.scores", "p.labels"], "g.sink", router, metrics, clock=lambda: 1_000,
                    batch_size=10, batch_window=0.05, session_timeout=6.0)
    feed.consumer = consumer = FakeConsumer()
    return feed, router, metrics, consumer


def batch(first: int, n: int) -> dict:
    return {P0: [Msg(P0.topic, 0, o, b"v%d" % o) for o in range(first, first + n)]}


def test_subscribes_to_every_topic_it_is_given():
    feed, *_ = make(0)
    assert feed.topics == ["p.scores", "p.labels"]


def test_a_batch_is_committed_after_its_flush():
    async def go() -> None:
        feed, router, metrics, consumer = make(0)
        await feed._process(consumer, batch(0, 3))
        assert router.routed == [("p.scores", 0, o, b"v%d" % o) for o in range(3)]
        await feed.drain()
        assert consumer.commits == [{P0: 3}]
        assert metrics.batches == [["p.scores"] * 3] and metrics.errors == 0

    asyncio.run(go())


def test_clickhouse_down_holds_the_batch_uncommitted_until_a_flush_succeeds(monkeypatch):
    monkeypatch.setattr(sink_feed, "RETRY_FIRST", 0.001)
    monkeypatch.setattr(sink_feed, "RETRY_MAX", 0.002)

    async def go() -> None:
        feed, router, metrics, consumer = make(down=3)
        await feed._process(consumer, batch(0, 2))
        while router.flushes < 2:
            await asyncio.sleep(0.001)
        assert feed.holding and consumer.commits == []
        # the next batch is routed while the first is held, then waits for it (depth 1)
        await feed._process(consumer, batch(2, 2))
        assert len(router.routed) == 4 and consumer.commits == [{P0: 2}]
        await feed.drain()
        # one flush writes what is buffered: the second batch's flush finds nothing left
        assert router.flushes == 5 and metrics.errors == 3 and not feed.holding
        assert consumer.commits == [{P0: 2}, {P0: 4}]

    asyncio.run(go())


def test_a_stop_while_clickhouse_is_down_returns_at_once_and_commits_nothing():
    async def go() -> None:
        feed, _router, _metrics, consumer = make(down=10**9)  # ClickHouse never comes back
        feed.stop_grace = 30.0  # what a stop would wait for a batch in flight otherwise

        async def run() -> None:  # what `EventFeed.run` does with two batches, then waits for more
            await feed._process(consumer, batch(0, 2))
            await feed._process(consumer, batch(2, 2))
            await asyncio.Event().wait()

        task = feed._task = asyncio.ensure_future(run())
        while not feed.holding:
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        await feed.stop()
        assert time.monotonic() - t0 < 1.0
        assert task.cancelled() and all(t.cancelled() for t in feed._tails) and consumer.commits == []

    asyncio.run(go())


def test_a_busy_scorer_of_the_same_process_goes_first_but_the_sink_still_moves(monkeypatch):
    monkeypatch.setattr(sink_feed, "ROUTE_SLICE", 2)
    monkeypatch.setattr(sink_feed, "YIELD_STEP", 0.001)

    async def go() -> None:
        feed, router, _metrics, consumer = make(0)
        busy = {"left": 5}

        def scorer_busy() -> bool:  # busy for five looks, then idle
            busy["left"] -= 1
            return busy["left"] >= 0

        feed.yield_to = scorer_busy
        await feed._process(consumer, batch(0, 4))
        assert busy["left"] < 0 and len(router.routed) == 4  # routed only once the scorer was idle

        monkeypatch.setattr(sink_feed, "YIELD_MAX", 0.01)
        feed.yield_to = lambda: True  # a scorer that is never idle (a long backlog)
        await asyncio.wait_for(feed._process(consumer, batch(4, 4)), 5)
        await feed.drain()
        assert len(router.routed) == 8 and consumer.commits[-1] == {P0: 8}

    asyncio.run(go())


def test_the_sink_has_room_for_the_batch_held_and_the_next_one(tmp_path):
    from streams.config import load_config
    from streams.harness import example_config
    from streams.sinking import build_sink

    cfg = load_config(example_config(tmp_path, "p", "fraud", sink={"batch_rows": 60_000}))
    sink = build_sink(cfg, "http://127.0.0.1:9")  # nothing answers there: prepared at the first flush
    assert sink.max_batch_rows == 60_000 and sink.max_buffered_rows >= 2 * 60_000
