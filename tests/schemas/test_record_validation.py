"""Record validation messages name the field and the expected type."""

from __future__ import annotations

import math

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
        "field 'xs[1]' is -inf; NaN and infinity are not accepted, send a finite number or null"
    ]
    assert validation_errors({"xs": [math.nan]}, schema, allow_non_finite=True) == []
    assert find_non_finite({"a": 1, "b": "nan"}) is None
