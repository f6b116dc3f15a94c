"""Input validation: bad events are named with a reason; process refuses them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from features import FeatureEngine, FeatureInputError, FeatureSet, MemoryStateStore

FS = FeatureSet(
    windows=[
        {"name": "n", "entity": "card", "agg": "count", "window": "1m", "bucket": "1s"},
        {"name": "s", "entity": "card", "agg": "sum", "field": "amount", "window": "1m", "bucket": "1s"},
        {"name": "d", "entity": "merch", "agg": "distinct", "field": "tag", "window": "1m", "bucket": "1s"},
    ],
    passthrough=[
        {"name": "amount_raw", "field": "amount"},
        {"name": "is_online", "field": "online", "default": 0.0},
    ],
)


def good(**kw):
    return {"id": "e", "ts": 1000, "card": "c", "merch": "m", "amount": 1.5, "tag": "x", "online": True, **kw}


def engine():
    return FeatureEngine(FS, MemoryStateStore(), "ts", "id")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({k: v for k, v in good().items() if k != "card"}, "missing key field 'card'"),
        (good(merch=None), "missing key field 'merch'"),
        ({k: v for k, v in good().items() if k != "ts"}, "missing time field 'ts'"),
        (good(ts="1000"), "time field 'ts' is str"),
        (good(ts=1.5), "integral"),
        ({k: v for k, v in good().items() if k != "id"}, "missing id field 'id'"),
        (good(id=""), "event id field 'id' is empty"),
        (good(id=" \t"), "event id field 'id' is empty (only whitespace"),
        (good(amount=None), "missing value field 'amount'"),
        (good(amount="12"), "value field 'amount' is str"),
        (good(amount=math.nan), "not finite"),
        (good(amount=math.inf), "not finite"),
        (good(tag=None), "missing value field 'tag'"),
        (good(tag=[1]), "cannot hash a list"),
        (good(ts=10_413_792_000_000), "out of range"),  # 2300-01-01
        (good(ts=-2_208_988_800_001), "out of range"),  # before 1900
        (good(ts=2**63 - 1), "out of range"),
    ],
)
def test_validate_names_the_problem(event, reason):
    problems = engine().validate([good(id="ok"), event])
    assert len(problems) == 1
    index, text = problems[0]
    assert index == 1 and reason in text


def test_process_refuses_invalid_events():
    with pytest.raises(FeatureInputError, match="send those to the DLQ"):
        engine().process([good(), good(id="e2", amount=None)])


def test_an_empty_event_id_is_refused_not_taken_for_a_duplicate():
    """All id-less events would share the id "": every one after the first would be `seen`, never
    enter a window, and be dead-lettered as a duplicate instead of as the producer bug it is."""
    eng = FeatureEngine(FeatureSet(windows=[FS.windows[0]]), MemoryStateStore(), "ts", "id")
    evs = [{"id": "", "ts": 0, "card": "m"}, {"id": " ", "ts": 1000, "card": "m"},
           {"id": "x", "ts": 2000, "card": "m"}, {"id": 0, "ts": 3000, "card": "m"}]
    assert eng.validate(evs) == [(0, "event id field 'id' is empty"),
                                 (1, "event id field 'id' is empty (only whitespace: ' ')")]
    with pytest.raises(FeatureInputError, match="is empty"):
        eng.process(evs)
    fb = eng.process(evs[2:])
    assert fb.values[:, 0].tolist() == [1.0, 2.0] and not fb.seen.any()


def test_valid_batch_has_no_problems_and_coerces():
    evs = [good(id="a", ts=2000.0, card=7, online=False), good(id="b", amount=2, online=None)]
    eng = engine()
    assert eng.validate(evs) == []
    rows = eng.rows(eng.process(evs))
    assert rows[0]["is_online"] == 0.0 and rows[1]["is_online"] == 0.0
    assert rows[0]["amount_raw"] == 1.5 and rows[1]["amount_raw"] == 2.0
    assert list(rows[0]) == FS.names
    assert eng.lookup("card", "7", 2000) == {"n": 1.0, "s": 1.5}


def test_passthrough_needs_a_default_when_missing():
    problems = engine().validate([{k: v for k, v in good().items() if k != "amount"}])
    assert any("no default" in r for _, r in problems)


def test_passthrough_is_exact_and_bools_are_01():
    fs = FeatureSet(passthrough=[{"name": "p", "field": "v"}])
    eng = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    vals = [0.1 + 0.2, True, False, 10**17 + 1, -3]
    got = eng.process([{"id": str(i), "ts": 0, "v": v} for i, v in enumerate(vals)]).values[:, 0]
    assert got.tolist() == [0.1 + 0.2, 1.0, 0.0, float(10**17 + 1), -3.0]


def test_ratio_with_zero_denominator_is_zero_and_ops():
    fs = FeatureSet(
        passthrough=[{"name": "a", "field": "a"}, {"name": "b", "field": "b"}],
        derived=[{"name": op, "op": op, "left": "a", "right": "b"} for op in ("ratio", "diff", "sum", "product")],
    )
    eng = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    got = eng.process([{"id": "1", "ts": 0, "a": 3, "b": 0}, {"id": "2", "ts": 0, "a": 3, "b": 2}]).values
    np.testing.assert_array_equal(got, [[3, 0, 0, 3, 3, 0], [3, 2, 1.5, 1, 5, 6]])


def test_empty_batch():
    batch = engine().process([])
    assert batch.values.shape == (0, len(FS.names)) and len(batch) == 0


def test_lookup_rejects_unknown_entity_and_mismatched_event():
    eng = engine()
    with pytest.raises(FeatureInputError, match="no window feature"):
        eng.lookup("user", "u", 0)
    with pytest.raises(FeatureInputError, match="not 'other'"):
        eng.lookup("card", "other", 0, event=good())


def test_a_time_out_of_range_is_refused_whatever_else_is_in_the_batch():
    """The all-int fast path checks the range too: validity never depends on the other events."""
    for batch in ([good(ts=2**62 + 5)], [good(ts=2**62 + 5), good(id="e2", ts=1.0)]):
        assert [i for i, _ in engine().validate(batch)] == [0]


def test_times_at_the_edge_of_the_range_keep_their_windows_across_batches():
    fs = FeatureSet(windows=[{"name": "n", "entity": "card", "agg": "count", "window": 3, "bucket": 1},
                             {"name": "p", "entity": "card", "agg": "since_prev", "window": 3, "bucket": 1}])
    for t in (10_413_791_999_999, -2_208_988_800_000):
        eng = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
        eng.process([{"id": "a", "ts": t, "card": "c"}])
        fb = eng.process([{"id": "b", "ts": t, "card": "c"}])
        assert fb.values.tolist() == [[2.0, 0.0]] and not fb.late[0]


def test_distinct_counts_integers_beyond_float_precision_exactly():
    """64-bit ids do not merge because they round to one float; an int equal to a float is that float."""
    fs = FeatureSet(windows=[{"name": "d", "entity": "card", "agg": "distinct", "field": "tag", "window": "1m",
                              "bucket": "1s"}])
    ids = [2**53 + 1, 2**53 + 2, 9111111111111111, 9111111111111112, 2**60, float(2**60), 10**400]
    events = [{"id": f"e{i}", "ts": 1000, "card": "c", "tag": v} for i, v in enumerate(ids)]
    for batches in ([events], [[e] for e in events]):  # the all-number fast path and one by one
        eng = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
        last = [eng.process(b).values[-1, 0] for b in batches][-1]
        assert last == 6.0  # 2**60 and float(2**60) are one value


def test_an_exact_passthrough_refuses_ids_a_float64_would_merge():
    """A recommendation's user and item are ids: two 64-bit ids 1 apart would reach the model as
    one float64 (one latent vector for two users). `exact` refuses them with a reason; an id a
    float64 holds exactly passes, and a plain passthrough still takes any number."""
    fs = FeatureSet(passthrough=[{"name": "user", "field": "u", "exact": True}, {"name": "big", "field": "u"}])
    eng = FeatureEngine(fs, MemoryStateStore(), "ts", "id")
    evs = [{"id": f"e{i}", "ts": 1000, "u": u} for i, u in enumerate([2**53, 2**60, 2**53 + 1, -(2**53) - 1])]
    problems = eng.validate(evs)
    assert [i for i, _ in problems] == [2, 3] and all("beyond 2**53" in text for _, text in problems)
    plain = FeatureEngine(FeatureSet(passthrough=[{"name": "big", "field": "u"}]), MemoryStateStore(), "ts", "id")
    assert plain.validate(evs) == []


def test_a_recommendation_configs_user_and_item_are_exact():
    from streams.config import PipelineConfig

    cfg = PipelineConfig.model_validate({
        "pipeline": "reco_ids", "event": {"schema": "x.avsc", "id_field": "id", "key_field": "u", "time_field": "ts"},
        "features": {"passthrough": [{"name": "user", "field": "u"}, {"name": "item", "field": "i"},
                                     {"name": "pos", "field": "p"}]},
        "models": {"task": "recommendation", "champion": {"name": "mf", "model": "funk_mf"}}})
    assert [p.exact for p in cfg.features.passthrough] == [True, True, False]
