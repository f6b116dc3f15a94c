"""Cyclic-GC settings for Eddy's long-running loops: collect young objects less often, and keep
what lives for the whole run out of the collector's scans.

CPython's default thresholds (700, 10, 10) suit programs with small heaps. A worker holds a large
one (Faust, aiokafka, numba, River, pydantic: over a million objects) and allocates a few dozen
containers per event, so full collections came often and each one rescanned that heap: pauses of
110-215 ms every few seconds in a `score,learn` worker at 2,000 events/s, straight into the tail
latency. `calm()` raises the thresholds; `settle()` collects once and freezes the survivors (the
permanent generation is never scanned), after start-up. No effect on results: only on when
cyclic garbage is found.

>>> before = calm()
>>> gc.get_threshold()[0] >= 50_000
True
>>> restore(before)
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: young-generation threshold: allocations (minus deallocations) between young collections
YOUNG = 50_000


def calm() -> tuple[int, int, int]:
    """Raise the collection thresholds; returns the previous ones (for `restore`)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNG), max(before[1], 50), max(before[2], 100))
    return before


def restore(before: tuple[int, int, int]) -> None:
    gc.set_threshold(*before)


def settle() -> None:
    """Collect once, then move every surviving object to the permanent generation (call it once
    start-up is done: modules, clients, models and caches live for the whole run)."""
    gc.collect()
    gc.freeze()


@contextmanager
def calm_gc() -> Iterator[None]:
    """`calm()` and freeze what is alive for the duration of a block (e.g. a replay and its inputs);
    both undone at the end."""
    before = calm()
    gc.freeze()
    try:
        yield
    finally:
        restore(before)
        gc.unfreeze()
