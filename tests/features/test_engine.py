"""Engine behaviour around the store: retries, read-only lookups, stats, hashing."""

from __future__ import annotations

import hashlib
import struct

import pytest

from features import (
    CommitResult,
    FeatureEngine,
    FeatureSet,
    MemoryStateStore,
    StateConflictError,
    stable_hash,
)

FS = FeatureSet(
    windows=[
        {"name": "n", "entity": "card", "agg": "count", "window": "1m", "bucket": "1s"},
        {"name": "d", "entity": "card", "agg": "distinct", "field": "merch", "window": "1m", "bucket": "1s"},
    ],
    passthrough=[{"name": "x", "field": "x", "default": 0.0}],
)


def ev(i, ts=1_000, card="c", merch="m"):
    return {"id": f"e{i}", "ts": ts, "card": card, "merch": merch, "x": float(i)}


class FakeAlwaysConflictingStore(MemoryStateStore):
    """Unit-test fake: every commit reports a conflict on its first key."""

    def commit(self, keys, tokens, blobs, applied_ids, **kw):
        return CommitResult(conflicts=[0] if keys else [], seen_conflicts=[] if keys else [0])


def test_endless_conflicts_raise_after_max_retries():
    engine = FeatureEngine(FS, FakeAlwaysConflictingStore(), "ts", "id", max_retries=3)
    with pytest.raises(StateConflictError, match="max_retries"):
        engine.process([ev(1)])
    assert engine.stats.conflicts >= 3


def test_lookup_never_changes_state_and_matches_process():
    engine = FeatureEngine(FS, MemoryStateStore(), "ts", "id")
    engine.process([ev(1), ev(2, merch="m2")])
    before = engine.lookup("card", "c", 1_500)
    assert before == {"n": 2.0, "d": 2.0}
    row = engine.lookup("card", "c", 0, event=ev(3, ts=1_200, merch="m3"))
    assert row == {"n": 3.0, "d": 3.0, "x": 3.0}
    assert engine.lookup("card", "c", 1_500) == before
    seen_row = engine.lookup("card", "c", 0, event=ev(1))  # already applied: read-only
    assert seen_row == {"n": 2.0, "d": 2.0, "x": 1.0}
    assert engine.rows(engine.process([ev(3, ts=1_200, merch="m3")]))[0] == row


def test_lookup_as_of_later_time_and_unknown_key():
    engine = FeatureEngine(FS, MemoryStateStore(), "ts", "id")
    engine.process([ev(1, ts=1_000)])
    assert engine.lookup("card", "c", 61_500) == {"n": 0.0, "d": 0.0}  # window moved past it
    assert engine.lookup("card", "nobody", 1_000) == {"n": 0.0, "d": 0.0}


def test_stats_count_late_and_seen():
    engine = FeatureEngine(FS, MemoryStateStore(), "ts", "id")
    engine.process([ev(1, ts=100_000), ev(2, ts=1_000), ev(1, ts=100_000)])
    s = engine.stats
    assert (s.batches, s.events, s.late, s.seen, s.conflicts) == (1, 3, 1, 1, 0)


def test_stable_hash_is_blake2b_and_float_bits():
    want = int.from_bytes(hashlib.blake2b(b"abc", digest_size=8).digest(), "little", signed=True)
    assert stable_hash("abc") == want
    assert stable_hash(2) == struct.unpack("<q", struct.pack("<d", 2.0))[0]
    assert stable_hash(-0.0) == stable_hash(0)
    with pytest.raises(ValueError):
        stable_hash(float("nan"))


def test_a_long_ring_reserves_memory_for_the_buckets_a_key_can_fill_not_its_whole_ring():
    """100,000 buckets per key and 300 new keys: the kernel's output buffer used to be sized
    keys x ring x 36 bytes (1 GB here); a new key fills one bucket."""
    import tracemalloc

    fs = FeatureSet(windows=[{"name": "n", "entity": "card", "agg": "count", "window": "100000s", "bucket": "1s"}])
    engine = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    engine.process([ev(0)])  # compile outside the measurement
    tracemalloc.start()
    try:
        fb = engine.process([ev(i, card=f"c{i}") for i in range(1, 301)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fb.values[:, 0].tolist() == [1.0] * 300
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB"
