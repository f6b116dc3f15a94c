"""`streams.time_slices.TimeSlicer`: slices of about a time budget, with loop turns between them."""

from __future__ import annotations

import asyncio
import time

import pytest

from streams.time_slices import TimeSlicer


def sizes(slicer: TimeSlicer, n: int, cost: float) -> list[int]:
    async def run() -> list[int]:
        out = []
        async for chunk in slicer.slices(list(range(n))):
            out.append(len(chunk))
            time.sleep(cost * len(chunk))  # noqa: ASYNC251 - the caller's CPU-bound work on the slice
        return out

    return asyncio.run(run())


def test_every_item_once_in_order():
    async def run() -> list[int]:
        return [x async for chunk in TimeSlicer(max_size=7).slices(list(range(50))) for x in chunk]

    assert asyncio.run(run()) == list(range(50))


def test_slices_follow_the_time_an_item_takes():
    """A slow model gets small slices (about `budget` of work each), a fast one full ones."""
    slicer = TimeSlicer(budget=0.01, max_size=100)
    got = sizes(slicer, 130, 0.001)  # 1 ms an item: ~10 a slice after the first
    assert got[0] == 100 and all(n <= 10 for n in got[1:]) and sum(got) == 130
    got = sizes(slicer, 200, 0.0)  # fast items: back to full slices
    assert got[0] <= 10 and got[1] == 100 and sum(got) == 200


def test_other_tasks_run_between_slices():
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async def run() -> None:
        async for chunk in TimeSlicer(max_size=2).slices([1, 2, 3, 4]):
            if chunk == [1, 2]:
                asyncio.ensure_future(other())
            ran.append(f"slice{chunk}")

    asyncio.run(run())
    assert ran == ["slice[1, 2]", "other", "slice[3, 4]"]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="budget"):
        TimeSlicer(budget=0)
