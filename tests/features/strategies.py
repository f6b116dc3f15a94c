"""Hypothesis strategies and helpers shared by the feature tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np
from hypothesis import strategies as st

from features import FeatureEngine, FeatureSet
from features.spec import AGGS, NUMERIC_AGGS
from tests.features.reference import ReferenceEngine

ENTITY_SETS = (("card",), ("card", "merch"))


@st.composite
def feature_sets(draw) -> FeatureSet:
    """Random specs: 1-5 window features over 1-2 entities, random W/H/lateness/aggs."""
    entities = draw(st.sampled_from(ENTITY_SETS))
    windows = []
    for j in range(draw(st.integers(1, 5))):
        agg = draw(st.sampled_from(AGGS))
        bucket = draw(st.sampled_from([1, 2, 3, 5, 10]))
        n = draw(st.integers(1, 5))
        if agg in NUMERIC_AGGS:
            field = "amount"
        elif agg == "distinct":
            field = draw(st.sampled_from(["tag", "amount"]))
        else:
            field = None
        windows.append(
            {"name": f"w{j}", "entity": draw(st.sampled_from(entities)), "agg": agg, "field": field,
             "window": bucket * n, "bucket": bucket}
        )
    passthrough = [{"name": "amt", "field": "amount"}] if draw(st.booleans()) else []
    derived = []
    if passthrough and draw(st.booleans()):
        derived = [{"name": "ratio", "op": draw(st.sampled_from(["ratio", "diff", "sum", "product"])),
                    "left": "amt", "right": "w0"}]
    return FeatureSet(
        windows=windows, passthrough=passthrough, derived=derived,
        allowed_lateness=draw(st.integers(0, 25)),
    )


amounts = st.one_of(
    st.integers(-50, 50),
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, 1.0, 2.0]),
)
tags = st.one_of(st.integers(0, 3), st.sampled_from(["a", "b", "c", "1"]), st.just(1.0), st.booleans())


@st.composite
def event_streams(draw, max_events: int = 50) -> list[dict]:
    """Mostly increasing times with jitter (out-of-order, too-late) and exact redeliveries."""
    events: list[dict] = []
    now = draw(st.integers(-20, 20))
    for i in range(draw(st.integers(1, max_events))):
        if events and draw(st.integers(0, 9)) == 0:
            events.append(dict(draw(st.sampled_from(events))))  # redelivery: same id and payload
            continue
        now += draw(st.integers(0, 6))
        jitter = draw(st.sampled_from([0, 0, 0, 1, 3, 8, 20, 40]))
        events.append(
            {"id": f"e{i}", "ts": now - draw(st.integers(0, jitter)), "card": draw(st.sampled_from(["c1", "c2", 3])),
             "merch": draw(st.sampled_from(["m1", "m2"])), "amount": draw(amounts), "tag": draw(tags)}
        )
    return events


@st.composite
def batch_cuts(draw, n: int) -> list[int]:
    """Sorted cut points splitting n events into batches (possibly one batch, or many)."""
    cuts = draw(st.lists(st.integers(0, n), max_size=6))
    return sorted(set(cuts) | {0, n})


def run_engine(engine: FeatureEngine, events: Sequence[Mapping], cuts: Sequence[int], many: bool = False):
    """Process `events` in batches split at `cuts` (with `many`: one `process_many` call);
    stack values, late, seen."""
    vals, late, seen = [], [], []
    parts = [events[a:b] for a, b in pairwise(cuts)]
    batches = engine.process_many(parts) if many else map(engine.process, parts)
    for part, batch in zip(parts, batches, strict=True):
        assert batch.values.shape == (len(part), len(engine.names))
        vals.append(batch.values)
        late.append(batch.late)
        seen.append(batch.seen)
    return np.vstack(vals), np.concatenate(late), np.concatenate(seen)


def assert_matches_reference(fs: FeatureSet, engine: FeatureEngine, events, cuts, many: bool = False) -> ReferenceEngine:
    """Run engine and reference on the same stream; values, late and seen must agree."""
    ref = ReferenceEngine(fs, "ts", "id")
    r_vals, r_late, r_seen = ref.process(events)
    vals, late, seen = run_engine(engine, events, cuts, many)
    np.testing.assert_allclose(vals, np.array(r_vals).reshape(vals.shape), rtol=1e-9, atol=1e-9)
    assert late.tolist() == r_late
    assert seen.tolist() == r_seen
    return ref


def assert_lookups_match(fs: FeatureSet, engine: FeatureEngine, ref: ReferenceEngine, events, now: int) -> None:
    """engine.lookup equals the reference's lookup for every key seen in the stream."""
    for entity in fs.entities:
        for key in {str(e[entity]) for e in events}:
            got = engine.lookup(entity, key, now)
            want = ref.lookup(entity, key, now)
            assert got.keys() == want.keys()
            np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-9, atol=1e-9)
