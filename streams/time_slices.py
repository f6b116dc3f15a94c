"""`TimeSlicer`: cut a batch of CPU-bound work into slices of a few milliseconds each, with turns of
the event loop between them, so other tasks (a `score,learn` worker's events) wait one slice, not
the whole batch.

A slice is about `budget` seconds of work: its size follows the time per item the previous slice
took (at most `max_size` items), so a slow model gets small slices and a fast one full ones.

>>> import asyncio
>>> async def run():
...     return [len(chunk) async for chunk in TimeSlicer(max_size=4).slices(list(range(10)))]
>>> asyncio.run(run())
[4, 4, 2]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: loop turns between two slices: a fetch response takes a few to reach its consumer (socket read,
#: aiokafka's fetcher, `getmany`, the feed's task)
TURNS = 4


class TimeSlicer:
    """Slices of about `budget` seconds of the caller's work (at most `max_size` items)."""

    def __init__(self, budget: float = 0.003, max_size: int = 100, turns: int = TURNS) -> None:
        if budget <= 0 or max_size < 1:
            raise ValueError(f"budget={budget}, max_size={max_size}: give a positive budget and max_size >= 1")
        self.budget = budget
        self.max_size = max_size
        self.turns = turns
        self.per_item = 0.0  # seconds per item of the last slice

    async def slices(self, items: Sequence[T]) -> AsyncIterator[list[T]]:
        """Yield consecutive slices of `items`; the time until the caller asks for the next slice
        is that slice's work (it sizes the next one)."""
        i = 0
        while i < len(items):
            if i:
                for _ in range(self.turns):
                    await asyncio.sleep(0)
            per = self.per_item
            n = self.max_size if per <= 0 else max(1, min(self.max_size, int(self.budget / per)))
            chunk = list(items[i:i + n])
            t = time.perf_counter()
            yield chunk
            self.per_item = (time.perf_counter() - t) / len(chunk)
            i += len(chunk)


__all__ = ["TURNS", "TimeSlicer"]
