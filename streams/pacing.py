"""Pace a send loop at a fixed rate (`eddy produce --rate`, the test harness, the benchmarks)."""

from __future__ import annotations

import time


def pace(n: int, rate: float, t0: float) -> None:
    """Sleep until `n / rate` s after `t0` (a `time.perf_counter()` reading): when the `n`-th
    message of a run at `rate` per second is due. A loop running late does not sleep, so it
    catches up; no rate (`rate <= 0`) never sleeps.

    >>> t0 = time.perf_counter()
    >>> pace(2, 1000.0, t0); time.perf_counter() - t0 >= 0.002
    True
    """
    if rate > 0:
        ahead = n / rate - (time.perf_counter() - t0)
        if ahead > 0:
            time.sleep(ahead)
