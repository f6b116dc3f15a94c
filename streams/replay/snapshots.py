"""`ReplaySnapshots`: served-feature snapshots in memory that expire on the replay clock.

The live worker keeps snapshots in Redis for ``labels.snapshot_ttl``; a label that comes later
finds none (it waits as "early", then becomes an orphan). The replay reproduces that on event
time: the loop calls `advance(now_ms)` before each step, and every snapshot served at ``t`` is
gone once ``now_ms >= t + ttl``. Memory stays bounded by the snapshots of one TTL.

>>> import numpy as np
>>> from streams.snapshots import Snapshot
>>> snap = lambda e, t: Snapshot(e, "k", t, t, 0.0, np.zeros(1), ())
>>> store = ReplaySnapshots(ttl_ms=100)
>>> store.put_many([snap("a", 0), snap("b", 50)])
>>> store.advance(99); [s is not None for s in store.get_many(["a", "b"])]
[True, True]
>>> store.advance(100); [s is not None for s in store.get_many(["a", "b"])], len(store)
([False, True], 1)
"""

from __future__ import annotations

from collections import OrderedDict

from streams.snapshots import Snapshot


class ReplaySnapshots:
    """Implements the snapshot store surface the `Processor` uses (`put_many`, `get_many`)."""

    def __init__(self, ttl_ms: int) -> None:
        self._ttl = int(ttl_ms)
        self._data: OrderedDict[str, Snapshot] = OrderedDict()  # served_ts order: the replay clock only moves on
        # nothing expires before this: the oldest snapshot's expiry when `advance` last looked
        # (reset when the oldest may change otherwise than by expiring)
        self._quiet_until = -(2**63)

    def __len__(self) -> int:
        return len(self._data)

    def advance(self, now_ms: int) -> None:
        """Drop every snapshot served at or before ``now_ms - ttl``."""
        if now_ms < self._quiet_until:  # called before every replay step: the usual case
            return
        data, limit = self._data, now_ms - self._ttl
        while data:
            first = next(iter(data.values()))
            if first.served_ts > limit:
                self._quiet_until = first.served_ts + self._ttl
                return
            data.popitem(last=False)
        self._quiet_until = -(2**63)  # empty: the next snapshot put sets the bound

    def put_many(self, snapshots: list[Snapshot]) -> None:
        data = self._data
        if not data:
            self._quiet_until = -(2**63)  # a new oldest: `advance` looks at it next time
        for s in snapshots:
            if s.event_id not in data:  # the first served counts, as in Redis (SET NX)
                data[s.event_id] = s

    def get_many(self, event_ids: list[str]) -> list[Snapshot | None]:
        return [self._data.get(e) for e in event_ids]
