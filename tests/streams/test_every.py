"""`streams.app.every`: the worker's housekeeping loop (hot-swaps, checkpoints), started with the
feeds rather than as a Faust timer, which would only run after Faust's own group join (the demo's
scorer then served its start-up models for ~1.3 s while the learner published versions)."""

from __future__ import annotations

import asyncio

from streams.app import every


def test_waits_for_ready_then_runs_every_interval_until_cancelled():
    async def go() -> None:
        calls: list[int] = []
        ready = asyncio.Event()

        async def tick() -> None:
            calls.append(len(calls))

        task = asyncio.ensure_future(every(0.01, tick, ready=ready.wait))
        await asyncio.sleep(0.05)
        assert calls == []  # not before ready (Faust's producer started)
        ready.set()
        await asyncio.sleep(0.105)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        n = len(calls)
        assert 3 <= n <= 11, n
        await asyncio.sleep(0.03)
        assert len(calls) == n and task.cancelled()

    asyncio.run(go())
