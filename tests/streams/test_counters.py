"""`streams.counters.Counters`: sums written when due, nothing lost on a failed write."""

from __future__ import annotations

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from streams.counters import Counters


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Sent:
    """A fake `send`: decodes the framed HINCRBYs into (field, delta) pairs."""

    def __init__(self) -> None:
        self.writes: list[dict[str, int]] = []
        self.fail = False

    def __call__(self, chunks: list[bytes], replies: int) -> None:
        if self.fail:
            raise redis.ConnectionError("down")
        parts = b"".join(chunks).split(b"\r\n")
        # *4 $7 HINCRBY $n key $n field $n value  -> fields at 6, 8 of every 9 lines
        write = {parts[i + 6].decode(): int(parts[i + 8]) for i in range(0, len(parts) - 1, 9)}
        assert len(write) == replies
        self.writes.append(write)


def test_writes_the_sums_only_when_due() -> None:
    clock, sent = Clock(), Sent()
    c = Counters(sent, "eddy:p:counters", interval=0.25, clock=clock)
    c.add(events=20, scored=19, dlq=1, late=0)
    clock.t = 0.1
    c.add(events=20, scored=20)
    assert sent.writes == []
    clock.t = 0.3
    c.add(events=5, scored=5)
    assert sent.writes == [{"events": 45, "scored": 44, "dlq": 1}]
    c.add(events=1)
    c.flush()
    c.flush()  # nothing pending: no write
    assert sent.writes[1:] == [{"events": 1}]


def test_a_failed_write_keeps_the_sums() -> None:
    clock, sent = Clock(), Sent()
    c = Counters(sent, "k", interval=0.0, clock=clock)
    sent.fail = True
    with pytest.raises(redis.ConnectionError):
        c.add(events=3)
    with pytest.raises(redis.ConnectionError):
        c.add(events=2, dlq=1)
    sent.fail = False
    c.add(events=1)
    assert sent.writes == [{"events": 6, "dlq": 1}]


@given(st.lists(st.dictionaries(st.sampled_from(["events", "scored", "dlq", "labels"]), st.integers(0, 50)),
                max_size=30),
       st.lists(st.floats(0, 0.2), min_size=30, max_size=30))
def test_every_delta_is_written_once(batches: list[dict[str, int]], steps: list[float]) -> None:
    clock, sent = Clock(), Sent()
    c = Counters(sent, "k", interval=0.25, clock=clock)
    for deltas, step in zip(batches, steps):
        clock.t += step
        c.add(**deltas)
    c.flush()
    want: dict[str, int] = {}
    for deltas in batches:
        for k, v in deltas.items():
            if v:
                want[k] = want.get(k, 0) + v
    got: dict[str, int] = {}
    for write in sent.writes:
        for k, v in write.items():
            got[k] = got.get(k, 0) + v
    assert got == want



def test_settle_writes_totals_and_drops_their_pending_deltas() -> None:
    clock, writes = Clock(), []
    c = Counters(lambda chunks, n: writes.append(b"".join(chunks)), "k", interval=60.0, clock=clock)
    c.add(labels_learned=7, events=3)
    c.settle(labels_learned=5, labels_orphan=0)
    assert c.pending == {"events": 3}
    assert writes == [b"*6\r\n$4\r\nHSET\r\n$1\r\nk\r\n$14\r\nlabels_learned\r\n$1\r\n5\r\n$13\r\nlabels_orphan\r\n$1\r\n0\r\n"]
    c.settle()
    assert len(writes) == 1

