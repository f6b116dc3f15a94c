"""Every aggregation on hand-computed streams, plus a contract check against the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from features import FeatureEngine, FeatureSet, MemoryStateStore
from features.spec import AGGS, NUMERIC_AGGS
from tests.features.reference import ReferenceEngine

# key k, window 3 s of 1 s buckets; the last event's bucket (3) drops bucket 0
STREAM = [(0, 1.0), (500, 3.0), (1500, 5.0), (3200, 2.0)]
EXPECTED = {
    "count": [1, 2, 3, 2],
    "sum": [1, 4, 9, 7],
    "mean": [1, 2, 3, 3.5],
    "min": [1, 1, 1, 2],
    "max": [1, 3, 5, 5],
    "std": [0, 1, math.sqrt(8 / 3), 1.5],
    "last": [1, 3, 5, 2],
    "since_prev": [3.0, 0.5, 1.0, 1.7],
    "distinct": [1, 2, 3, 2],
}


def one_feature(agg: str, allowed_lateness: int = 0, window: str = "3s", bucket: str = "1s") -> FeatureSet:
    field = None if agg in ("count", "since_prev") else "x"
    return FeatureSet(
        windows=[{"name": "f", "entity": "k", "agg": agg, "field": field, "window": window, "bucket": bucket}],
        allowed_lateness=allowed_lateness,
    )


def events(pairs, key="a", start=0):
    return [{"id": f"e{start + i}", "ts": t, "k": key, "x": x} for i, (t, x) in enumerate(pairs)]


def values(engine: FeatureEngine, evs) -> list[float]:
    return engine.process(evs).values[:, 0].tolist()


@pytest.mark.parametrize("agg", AGGS)
def test_each_aggregation_by_hand(agg):
    engine = FeatureEngine(one_feature(agg), MemoryStateStore(), "ts", "id")
    np.testing.assert_allclose(values(engine, events(STREAM)), EXPECTED[agg], rtol=1e-12)


@pytest.mark.parametrize("agg", AGGS)
def test_each_aggregation_one_event_per_batch(agg):
    engine = FeatureEngine(one_feature(agg), MemoryStateStore(), "ts", "id")
    got = [values(engine, [e])[0] for e in events(STREAM)]
    np.testing.assert_allclose(got, EXPECTED[agg], rtol=1e-12)


@pytest.mark.parametrize("x", [123456789.123, 0.1, -7.25e-300, 1e300])
def test_the_std_of_a_constant_stream_is_zero_across_buckets(x):
    """Chan's merge starts from the first bucket as stored: `mean * n / n` may be an ulp off the
    mean, and every later event then added that ulp squared (6.4e-9 for 123456789.123)."""
    engine = FeatureEngine(one_feature("std", window="10s"), MemoryStateStore(), "ts", "id")
    stream = [(t, x) for t in range(0, 9000, 300)]
    assert values(engine, events(stream)) == [0.0] * len(stream)
    assert values(engine, events([(9100, x)], start=len(stream))) == [0.0]


@pytest.mark.parametrize("agg", AGGS)
def test_every_aggregation_matches_reference_on_a_messy_stream(agg):
    rng = np.random.default_rng(7)
    n = 400
    ts = np.cumsum(rng.integers(0, 400, n)) - rng.integers(0, 3000, n) * (rng.random(n) < 0.2)
    evs = [
        {"id": f"e{i}", "ts": int(t), "k": f"k{rng.integers(0, 5)}", "x": round(float(rng.normal(100, 30)), 2)}
        for i, t in enumerate(ts)
    ]
    evs += [dict(evs[j]) for j in rng.integers(0, n, 40)]  # redeliveries
    fs = one_feature(agg, allowed_lateness=1500, window="5s", bucket="500ms")
    got = FeatureEngine(fs, MemoryStateStore(), "ts", "id").process(evs)
    rows, late, seen = ReferenceEngine(fs, "ts", "id").process(evs)
    np.testing.assert_allclose(got.values, np.array(rows), rtol=1e-9, atol=1e-9)
    assert got.late.tolist() == late and any(late)
    assert got.seen.tolist() == seen and sum(seen) >= 40


def test_buckets_after_the_event_are_excluded():
    engine = FeatureEngine(one_feature("count", allowed_lateness=5000), MemoryStateStore(), "ts", "id")
    assert values(engine, events([(5000, 1), (5100, 1), (2000, 1)])) == [1, 2, 1]


def test_since_prev_is_clamped_for_out_of_order_events():
    engine = FeatureEngine(one_feature("since_prev", allowed_lateness=2000), MemoryStateStore(), "ts", "id")
    assert values(engine, events([(1500, 0), (1200, 0)])) == [3.0, 0.0]


def test_last_ties_go_to_the_event_processed_last():
    engine = FeatureEngine(one_feature("last"), MemoryStateStore(), "ts", "id")
    assert values(engine, events([(100, 1), (100, 2), (50, 3)])) == [1, 2, 2]


def test_std_is_stable_for_large_offsets():
    engine = FeatureEngine(one_feature("std", window="10s"), MemoryStateStore(), "ts", "id")
    xs = [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]
    got = values(engine, events([(i * 1000, x) for i, x in enumerate(xs)]))
    assert got[-1] == pytest.approx(np.std(xs), rel=1e-12)


def test_distinct_counts_strings_and_numbers_stably():
    engine = FeatureEngine(one_feature("distinct", window="10s"), MemoryStateStore(), "ts", "id")
    got = values(engine, events([(0, "a"), (1, "b"), (2, "a"), (3, 1), (4, 1.0), (5, "1"), (6, True)]))
    assert got == [1, 2, 2, 3, 3, 4, 4]


def test_too_late_event_is_scored_but_never_applied():
    engine = FeatureEngine(one_feature("sum"), MemoryStateStore(), "ts", "id")
    batch = engine.process(events([(5000, 1), (6000, 2), (1000, 100)]))
    assert batch.values[:, 0].tolist() == [1, 3, 100]  # bucket 1 is outside the retained ring
    assert batch.late.tolist() == [False, False, True]
    assert values(engine, events([(6500, 4)], start=10)) == [7]  # the late 100 is not in state


def test_late_event_inside_allowed_lateness_updates_its_bucket():
    engine = FeatureEngine(one_feature("sum", allowed_lateness="2s"), MemoryStateStore(), "ts", "id")
    batch = engine.process(events([(5000, 1), (3500, 10), (1000, 100)]))
    assert batch.values[:, 0].tolist() == [1, 10, 100]
    assert batch.late.tolist() == [False, False, True]
    assert values(engine, events([(5500, 4)], start=10)) == [15]  # 1 + 10 + 4; bucket 3 retained


def test_too_late_event_sees_retained_part_of_its_window():
    engine = FeatureEngine(one_feature("count", allowed_lateness="1s"), MemoryStateStore(), "ts", "id")
    # ring keeps buckets >= maxb - n - L + 1 = 5 - 3 - 1 + 1 = 2; the late event at bucket 3
    # (window 1..3) sees buckets 2 and 3 of the state, plus itself; bucket 1 was evicted
    batch = engine.process(events([(1100, 1), (2100, 1), (3100, 1), (5100, 1), (3900, 1)]))
    assert batch.values[:, 0].tolist() == [1, 2, 3, 2, 3]
    assert batch.late.tolist() == [False, False, False, False, True]


def test_redelivered_event_is_flagged_and_not_counted_twice():
    engine = FeatureEngine(one_feature("count"), MemoryStateStore(), "ts", "id")
    evs = events([(0, 1), (100, 1)])
    first = engine.process(evs + [dict(evs[0])])
    assert first.values[:, 0].tolist() == [1, 2, 2]
    assert first.seen.tolist() == [False, False, True]
    again = engine.process(evs)
    assert again.values[:, 0].tolist() == [2, 2]
    assert again.seen.tolist() == [True, True]


def test_empty_window_values_for_a_read_only_event():
    for agg in AGGS:
        engine = FeatureEngine(one_feature(agg), MemoryStateStore(), "ts", "id")
        engine.process(events([(0, 1)]))
        # the same id at a time whose window no longer holds anything: read-only, empty window
        got = engine.process([{"id": "e0", "ts": 100_000, "k": "a", "x": 1}]).values[0, 0]
        assert got == (3.0 if agg == "since_prev" else 0.0), agg


def test_numeric_aggs_list_is_consistent():
    assert NUMERIC_AGGS < set(AGGS)


def test_several_entities_keep_separate_state():
    fs = FeatureSet(windows=[
        {"name": "card_n", "entity": "card", "agg": "count", "window": "1m", "bucket": "1s"},
        {"name": "merch_sum", "entity": "merch", "agg": "sum", "field": "x", "window": "1m", "bucket": "1s"},
        {"name": "merch_cards", "entity": "merch", "agg": "distinct", "field": "card", "window": "1m", "bucket": "1s"},
    ])
    evs = [
        {"id": "1", "ts": 0, "card": "c1", "merch": "m1", "x": 1.0},
        {"id": "2", "ts": 10, "card": "c2", "merch": "m1", "x": 2.0},
        {"id": "3", "ts": 20, "card": "c1", "merch": "m2", "x": 4.0},
    ]
    got = FeatureEngine(fs, MemoryStateStore(), "ts", "id").process(evs).values.tolist()
    assert got == [[1, 1, 1], [1, 3, 2], [2, 4, 1]]


def test_distinct_on_a_hot_key_matches_reference():
    rng = np.random.default_rng(11)
    n = 3000
    ts = np.cumsum(rng.integers(0, 50, n)) - rng.integers(0, 2000, n) * (rng.random(n) < 0.1)
    evs = [{"id": f"e{i}", "ts": int(t), "k": "hot", "x": f"card{rng.integers(0, 500)}"} for i, t in enumerate(ts)]
    evs += [dict(evs[j]) for j in rng.integers(0, n, 100)]
    fs = one_feature("distinct", allowed_lateness=1000, window="10s", bucket="500ms")
    engine = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    got = np.concatenate([engine.process(evs[a : a + 700]).values[:, 0] for a in range(0, len(evs), 700)])
    rows, _, _ = ReferenceEngine(fs, "ts", "id").process(evs)
    assert got.tolist() == [r[0] for r in rows]
