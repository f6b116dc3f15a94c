"""A pipeline's live counters (`eddy:{<p>}:counters`, read by `eddy status` and `make demo`).

Batches add to them in process; the Redis hash gets the sums at most every `interval` seconds,
and on `flush()` (the worker's timer every `interval`, a learner checkpoint, the stop). One
HINCRBY round trip per batch had become a sixth of a small batch's Redis time at paced traffic
(~20 events per batch, five round trips).
The hash trails the worker by up to about twice `interval`; what a crash leaves unwritten is
lost from these counters only, never from the topics. The `labels_<status>` counters are
settled to the learner's own counts at each checkpoint (`settle`): after a crash they count the
labels the restored checkpoint holds, not the ones learned again twice. `events` and `labels`
count the messages read, redeliveries included (`redelivered` counts the events read again,
`labels_redelivered` the labels read again below the checkpoint a restarted learner resumed from).

>>> sent = []
>>> c = Counters(lambda cmds, n: sent.append(n), "eddy:{fraud}:counters", interval=60.0)
>>> c.add(events=20, scored=20, dlq=0)
>>> c.add(events=5, scored=5)
>>> c.pending, sent
({'events': 25, 'scored': 25}, [])
>>> c.flush(); c.pending, sent
({}, [2])
"""

from __future__ import annotations

import time
from collections.abc import Callable

from features.redis_store import command
from streams.keyspace import key


def counters_key(pipeline: str) -> str:
    """Redis hash of a pipeline's live counters."""
    return key(pipeline, "counters")


class Counters:
    """Sums of counter deltas, written with `send(framed_commands, n_replies)` when due."""

    def __init__(self, send: Callable[[list[bytes], int], object], key: str, interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.send = send
        self.key = key
        self.interval = interval
        self.clock = clock
        self.pending: dict[str, int] = {}
        self._written_at = clock()

    def add(self, **deltas: int) -> None:
        """Count `deltas` (zeros ignored); write every sum if `interval` has passed since the last
        write. A failed write keeps the sums for the next one and raises."""
        pending = self.pending
        for name, value in deltas.items():
            if value:
                pending[name] = pending.get(name, 0) + value
        if self.clock() - self._written_at >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Write every pending sum now (one round trip), also when not due."""
        self._written_at = self.clock()
        if not self.pending:
            return
        sums, self.pending = self.pending, {}
        try:
            self.send([b"".join(command("HINCRBY", self.key, k, v) for k, v in sums.items())], len(sums))
        except BaseException:
            for name, value in sums.items():  # counted again with whatever came meanwhile
                self.pending[name] = self.pending.get(name, 0) + value
            raise

    def settle(self, **totals: int) -> None:
        """Write `totals` as the counters' values now (one HSET), their pending deltas dropped:
        the totals include them. A learner settles its label counters to the counts of each
        checkpoint, so labels learned again after a crash are not counted twice; it must `add`
        each outcome when it counts it itself (before any await), or a settle in between would
        count it twice."""
        if not totals:
            return
        for name in totals:
            self.pending.pop(name, None)
        self.send([command("HSET", self.key, *[x for kv in totals.items() for x in kv])], 1)
