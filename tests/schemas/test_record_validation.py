"""Record validation messages name the field and the expected type."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import find_non_finite, validation_errors

SCHEMA = {
    "type": "record", "name": "R", "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "int"},
        {"name": "opt", "type": ["null", "long"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "card", "type": {"type": "record", "name": "Card", "fields": [{"name": "id", "type": "string"}]}},
        {"name": "h", "type": {"type": "fixed", "name": "H", "size": 2}, "default": "ab"},
    ],
}


def ok(**over):
    rec = {"id": "a", "n": 1, "opt": None, "tags": ["x"], "card": {"id": "c"}, "h": b"ab"}
    rec.update(over)
    return rec


def test_valid():
    assert validation_errors(ok(), SCHEMA) == []


def test_messages():
    assert validation_errors(ok(n=True), SCHEMA) == ["field 'n' expects int, got bool True"]
    assert validation_errors(ok(opt="x"), SCHEMA) == ["field 'opt' expects union[null,long], got str 'x'"]
    assert validation_errors(ok(tags=["x", 3]), SCHEMA) == ["field 'tags[1]' expects string, got int 3"]
    assert validation_errors(ok(card={}), SCHEMA) == [
        "field 'card.id' is missing; it is required (no default in the schema)"
    ]
    assert validation_errors(ok(h=b"abc"), SCHEMA) == ["field 'h' expects 2 bytes (fixed H), got bytes b'abc'"]
    assert validation_errors(ok(id=None), SCHEMA) == [
        "field 'id' is missing or null; it is required (string, no default)"
    ]
    assert validation_errors([1], SCHEMA) == ["the record expects record R, got list [1]"]


def test_missing_nullable_without_default_is_allowed():
    schema = {"type": "record", "name": "R", "fields": [{"name": "x", "type": ["null", "int"]}]}
    assert validation_errors({}, schema) == []


def test_extra_fields_only_when_strict():
    assert validation_errors(ok(zzz=1), SCHEMA) == []
    assert validation_errors(ok(zzz=1), SCHEMA, allow_extra=False) == [
        "field 'zzz' is not in the schema; remove it or add it to the schema"
    ]


def test_non_finite():
    schema = {"type": "record", "name": "R", "fields": [{"name": "xs", "type": {"type": "array", "items": "float"}}]}
    assert validation_errors({"xs": [1.0, -math.inf]}, schema) == [
        "field 'xs[1]' is -inf; NaN and infinity are not accepted, send a finite number"
    ]
    assert validation_errors({"xs": [math.nan]}, schema, allow_non_finite=True) == []
    assert find_non_finite({"a": 1, "b": "nan"}) is None


def test_non_finite_hint_offers_null_only_where_the_schema_takes_it():
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "amount", "type": "double"},
        {"name": "score", "type": ["null", "double"], "default": None},
        {"name": "xs", "type": {"type": "array", "items": ["null", "float"]}, "default": []},
        {"name": "inner", "type": {"type": "record", "name": "I", "fields": [{"name": "v", "type": "double"}]}},
    ]}
    rec = {"amount": 1.0, "score": None, "xs": [], "inner": {"v": 0.5}}
    hint = "NaN and infinity are not accepted, send a finite number"
    assert validation_errors({**rec, "amount": math.nan}, schema) == [f"field 'amount' is nan; {hint}"]
    assert validation_errors({**rec, "score": math.inf}, schema) == [f"field 'score' is inf; {hint} or null"]
    assert validation_errors({**rec, "xs": [1.0, -math.inf]}, schema) == [f"field 'xs[1]' is -inf; {hint} or null"]
    assert validation_errors({**rec, "inner": {"v": math.nan}}, schema) == [f"field 'inner.v' is nan; {hint}"]


def _walk(value, path=""):
    """The slow reference: the first non-finite float in document order, with its path."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    items = (value.items() if isinstance(value, dict)
             else ((f"[{i}]", v) for i, v in enumerate(value)) if isinstance(value, (list, tuple)) else ())
    for k, v in items:
        sub = f"{path}{k}" if str(k).startswith("[") else (f"{path}.{k}" if path else str(k))
        hit = _walk(v, sub)
        if hit is not None:
            return hit
    return None


_leaf = st.one_of(st.floats(), st.integers(), st.booleans(), st.text(max_size=3), st.none(), st.binary(max_size=2))
_values = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text("abc", min_size=1, max_size=2), inner,
                                                                      max_size=3)), max_leaves=8)


@settings(deadline=None)
@given(st.dictionaries(st.text("xyz", min_size=1, max_size=2), _values, max_size=5))
def test_find_non_finite_matches_the_walk(record):
    """The flat fast path answers like the full walk, on flat and nested records alike."""
    got, want = find_non_finite(record), _walk(record)
    assert (got is None) == (want is None)
    if want is not None:
        assert got[0] == want[0] and (got[1] == want[1] or (math.isnan(got[1]) and math.isnan(want[1])))
