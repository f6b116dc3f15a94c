"""Property tests: the kernel engine equals the pure-Python reference on random input."""

from __future__ import annotations

from itertools import pairwise

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import FeatureEngine, MemoryStateStore, RedisStateStore
from tests.features.conftest import fresh_namespace
from tests.features.strategies import (
    assert_lookups_match,
    assert_matches_reference,
    batch_cuts,
    event_streams,
    feature_sets,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_memory_engine_equals_reference(data):
    fs = data.draw(feature_sets())
    events = data.draw(event_streams())
    cuts = data.draw(batch_cuts(len(events)))
    engine = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    ref = assert_matches_reference(fs, engine, events, cuts)
    now = data.draw(st.integers(-30, 400))
    assert_lookups_match(fs, engine, ref, events, now)


@pytest.mark.integration
@pytest.mark.parametrize("many", [False, True], ids=["process", "process_many"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_redis_engine_equals_reference(redis_client: redis.Redis, many: bool, data):
    """Also with process_many (batch i+1 read and computed while batch i commits)."""
    fs = data.draw(feature_sets())
    events = data.draw(event_streams())
    cuts = data.draw(batch_cuts(len(events)))
    engine = FeatureEngine(fs, RedisStateStore(redis_client, fresh_namespace()), "ts", "id")
    ref = assert_matches_reference(fs, engine, events, cuts, many=many)
    now = data.draw(st.integers(-30, 400))
    assert_lookups_match(fs, engine, ref, events, now)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_batch_boundaries_do_not_matter(data):
    fs = data.draw(feature_sets())
    events = data.draw(event_streams())
    one = FeatureEngine(fs, MemoryStateStore(), "ts", "id").process(events)
    cuts = data.draw(batch_cuts(len(events)))
    other = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    for a, b in pairwise(cuts):
        part = other.process(events[a:b])
        assert (part.values == one.values[a:b]).all()
        assert (part.late == one.late[a:b]).all()
        assert (part.seen == one.seen[a:b]).all()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_lookup_with_event_equals_process(data):
    fs = data.draw(feature_sets())
    events = data.draw(event_streams(max_events=30))
    engine = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    split = data.draw(st.integers(0, len(events) - 1))
    engine.process(events[:split])
    nxt = events[split]
    looked = engine.lookup("card", str(nxt["card"]), nxt["ts"], event=nxt)
    again = engine.lookup("card", str(nxt["card"]), nxt["ts"], event=nxt)  # read-only
    row = engine.rows(engine.process([nxt]))[0]
    assert looked == again == row
