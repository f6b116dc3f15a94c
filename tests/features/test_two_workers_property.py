"""Two pipelined engines on one Redis namespace, interleaved, held to the reference."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import FeatureEngine, RedisStateStore
from tests.features.conftest import fresh_namespace
from tests.features.reference import ReferenceEngine
from tests.features.strategies import assert_lookups_match, batch_cuts, event_streams, feature_sets

pytestmark = pytest.mark.integration


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_two_interleaved_pipelined_workers_equal_the_reference_in_commit_order(redis_client: redis.Redis, data):
    """Each `next()` of a `process_many` generator commits exactly the batch it yields, so the
    reference, fed the yielded batches in yield order, gives the same seen flags, the same
    values for every applied in-time event, and the same final state (no lost update, no
    double count)."""
    fs = data.draw(feature_sets())
    events = data.draw(event_streams())
    cuts = data.draw(batch_cuts(len(events)))
    parts = [events[a:b] for a, b in pairwise(cuts)]
    owner = [data.draw(st.integers(0, 1)) for _ in parts]
    ns = fresh_namespace()
    engines = [FeatureEngine(fs, RedisStateStore(redis_client, ns), "ts", "id") for _ in range(2)]
    streams = [[p for p, o in zip(parts, owner) if o == w] for w in range(2)]
    gens = [iter(e.process_many(s)) for e, s in zip(engines, streams)]
    left = [len(s) for s in streams]
    done = [0, 0]
    ref = ReferenceEngine(fs, "ts", "id")
    while any(left):
        w = data.draw(st.sampled_from([i for i in range(2) if left[i]]))
        batch = next(gens[w])
        part = streams[w][done[w]]
        done[w] += 1
        left[w] -= 1
        r_vals, r_late, r_seen = ref.process(part)
        # seen flags are decided by the commit itself: exact in commit order
        assert batch.seen.tolist() == r_seen
        # an applied, in-time event writes its keys, so its values were computed on the state
        # its commit replaced (compare-and-set); read-only and too-late events write nothing and
        # may see the state as of their batch's load (another worker may commit in between)
        ok = ~batch.seen & ~batch.late
        want = np.array(r_vals).reshape(batch.values.shape)
        assert not np.array(r_late)[ok].any()
        np.testing.assert_allclose(batch.values[ok], want[ok], rtol=1e-9, atol=1e-9)
    assert_lookups_match(fs, engines[0], ref, events, data.draw(st.integers(-30, 400)))
