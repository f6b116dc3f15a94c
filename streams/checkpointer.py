"""`Checkpointer`: when the learner saves its checkpoint, and which labels offsets it then commits.

The learner saves a checkpoint (every model + its bookkeeping, `save(actions)`) at most every
`every` label outcomes or `interval` seconds, at once after a drift action, and whenever a
rebalance revokes the labels partition (the owner calls `flush`). Saving after every batch of
labels cost the worker most of its time at paced traffic (many small batches, one pickle of
every model and one JSON meta each).

Restart correctness: the offsets of the labels a checkpoint covers are held (`hold`) and
committed (`commit(offsets)`) only after it is written and its model events are published
(`flush`), so the labels group never commits an offset ahead of the stored models. After a
crash, Kafka redelivers from at most the checkpoint's offset; the labels below it are duplicates
by offset (`Processor.resume_offsets`), the ones above it are learned again by the restored
models: exactly once in effect, versions continue (INCR).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

log = logging.getLogger("eddy.worker")

#: ``commit(offsets)``: commit partition -> next offset to read (the labels feed's `commit`).
Commit = Callable[[dict[Hashable, int]], Awaitable[None] | None]


async def _call(fn: Callable[..., Any], *args: Any) -> None:
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


class Checkpointer:
    """When to save the learner's checkpoint (`due`, `flush`); the labels offsets held until then."""

    def __init__(self, save: Callable[[list[dict]], None], every: int, interval: float,
                 after_save: Callable[[], Any] | None = None, commit: Commit | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._save = save
        self._after_save = after_save
        #: set by the owner of the labels consumer (`LabelFeed`) when it is not known at construction
        self.commit = commit
        self.every = every
        self.interval = interval
        self.clock = clock
        self._labels = 0  # label outcomes since the last save
        self._actions: list[dict] = []
        self._held: dict[Hashable, int] = {}  # partition -> next offset, committed after the next save
        self._lock = asyncio.Lock()  # one flush at a time: held offsets are committed in order
        self._last = clock()

    @property
    def dirty(self) -> bool:
        return bool(self._labels or self._actions)

    def note(self, outcomes: int, actions: list[dict] | None = None) -> None:
        """The learner's state changed by `outcomes` labels (and drift `actions`)."""
        self._labels += outcomes
        self._actions += actions or []

    def hold(self, offsets: Mapping[Hashable, int]) -> None:
        """Commit `offsets` (partition -> next offset to read) only after the next save."""
        held = self._held
        for tp, offset in offsets.items():
            if offset > held.get(tp, -1):
                held[tp] = offset

    def due(self) -> bool:
        if self._actions or self._labels >= self.every:
            return True
        return (self.dirty or bool(self._held)) and self.clock() - self._last >= self.interval

    def save(self) -> None:
        """Write the checkpoint now if anything changed (synchronous)."""
        if self.dirty:
            self._save(self._actions)
        self._labels, self._actions, self._last = 0, [], self.clock()

    async def flush(self) -> None:
        """Save, publish what the save produced (`after_save`), then commit the held offsets.

        On any failure the offsets stay held for the next flush: a failed save, or a written
        checkpoint whose model events or commit failed (dropping them would keep the labels
        group's offset behind for good).
        """
        async with self._lock:
            held, self._held = self._held, {}
            try:
                self.save()
                if self._after_save is not None:
                    await _call(self._after_save)
                if held and self.commit is not None:
                    await _call(self.commit, held)
            except BaseException:
                self.hold(held)
                raise

    async def close(self, publish_timeout: float) -> None:
        """The last flush, at shutdown: save, publish its model events for at most
        `publish_timeout` s (best effort: undelivered ones are queued again by the next learner,
        `ModelRegistry.saved_events`), commit the held offsets. A failed save raises and commits nothing."""
        async with self._lock:
            held, self._held = self._held, {}
            self.save()
            if self._after_save is not None:
                try:
                    await asyncio.wait_for(_call(self._after_save), publish_timeout)
                except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - best effort on the way out
                    log.warning("model events of the final checkpoint not published (%r)", exc)
            if held and self.commit is not None:
                await _call(self.commit, held)
