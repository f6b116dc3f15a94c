"""Small in-memory rolling windows for the live dashboard (Prometheus keeps the real history).

>>> w = RollingCounts(horizon_s=60)
>>> w.add(100.2, events=3); w.add(100.9, events=2); w.add(101.5, events=5)
>>> w.rate("events", now=101.9, span_s=2)
5.0
>>> w.series("events", now=101.9, span_s=3)
[[99, 0], [100, 5], [101, 5]]
>>> percentiles([1.0, 2.0, 3.0, 4.0], (50, 100))
{'p50': 2.5, 'p100': 4.0}
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence


class RollingCounts:
    """Per-second counts of named quantities over the last `horizon_s` seconds."""

    def __init__(self, horizon_s: int = 300) -> None:
        self.horizon_s = horizon_s
        self._buckets: dict[int, dict[str, int]] = {}

    def add(self, now: float, **counts: int) -> None:
        """Add `counts` to the second `now` falls in, and forget seconds older than the horizon."""
        sec = int(now)
        bucket = self._buckets.setdefault(sec, {})
        for k, v in counts.items():
            bucket[k] = bucket.get(k, 0) + int(v)
        if len(self._buckets) > self.horizon_s + 5:
            for old in [s for s in self._buckets if s <= sec - self.horizon_s]:
                del self._buckets[old]

    def total(self, name: str, now: float, span_s: int) -> int:
        """Sum of `name` over the `span_s` whole seconds ending with the current one."""
        sec = int(now)
        return sum(b.get(name, 0) for s, b in self._buckets.items() if sec - span_s < s <= sec)

    def rate(self, name: str, now: float, span_s: int = 10) -> float:
        """Mean per-second rate of `name` over the last `span_s` seconds."""
        return self.total(name, now, span_s) / span_s

    def series(self, name: str, now: float, span_s: int = 120) -> list[list[int]]:
        """`[[second, count], ...]` for the last `span_s` seconds, zeros included."""
        sec = int(now)
        return [[s, self._buckets.get(s, {}).get(name, 0)] for s in range(sec - span_s + 1, sec + 1)]


class RollingSamples:
    """The samples of the last `horizon_s` seconds (at most `maxlen`), e.g. batch latencies."""

    def __init__(self, horizon_s: float = 60.0, maxlen: int = 5000) -> None:
        self.horizon_s = horizon_s
        self._items: deque[tuple[float, float]] = deque(maxlen=maxlen)

    def add(self, now: float, value: float) -> None:
        self._items.append((now, float(value)))

    def values(self, now: float) -> list[float]:
        while self._items and self._items[0][0] < now - self.horizon_s:
            self._items.popleft()
        return [v for _, v in self._items]


def percentiles(values: Sequence[float] | Iterable[float], qs: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """Linear-interpolated percentiles (NaN-free input; empty input gives zeros)."""
    xs = sorted(values)
    out: dict[str, float] = {}
    for q in qs:
        if not xs:
            out[f"p{q}"] = 0.0
            continue
        pos = (len(xs) - 1) * q / 100
        lo, hi = math.floor(pos), math.ceil(pos)
        out[f"p{q}"] = xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
    return out
