"""Converting input values to a schema's Avro types: CSV cells, JSON values, logical types.

>>> from schemas.avsc import parse, named_types
>>> s = parse({"type": "record", "name": "R", "fields": [
...     {"name": "n", "type": ["null", "int"]},
...     {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]})
>>> names = named_types(s)
>>> from_text("", s["fields"][0]["type"], "n", names), from_text("7", s["fields"][0]["type"], "n", names)
(None, 7)
>>> from_text("2023-11-14T22:13:20Z", s["fields"][1]["type"], "ts", names)
1700000000000
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from schemas.avsc import Schema

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_MS_LOGICAL = {"timestamp-millis", "local-timestamp-millis"}


class CoerceError(ValueError):
    """A value cannot be converted to its field's type; the message names the field."""


class _Type(NamedTuple):
    kind: str
    schema: Any
    logical: str | None


def _type(s: Schema, names: dict[str, Schema]) -> _Type:
    if isinstance(s, list):
        return _Type("union", s, None)
    if isinstance(s, str):
        return _type(names[s], names) if s in names else _Type(s, s, None)
    t = s["type"]
    if isinstance(t, (list, dict)) or (isinstance(t, str) and t in names):
        return _type(t, names)
    return _Type("record" if t == "error" else t, s, s.get("logicalType"))


def _iso_to_ms(text: str, path: str) -> int:
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CoerceError(f"field '{path}': {text!r} is neither ms since epoch nor an ISO-8601 time") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def from_text(text: str, s: Schema, path: str, names: dict[str, Schema]) -> Any:
    """A CSV cell converted to the field's Avro type."""
    t = _type(s, names)
    if t.kind == "union":
        if text == "" and any(_type(b, names).kind == "null" for b in t.schema):
            return None
        errors = []
        for branch in t.schema:
            if _type(branch, names).kind == "null":
                continue
            try:
                return from_text(text, branch, path, names)
            except CoerceError as exc:
                errors.append(str(exc))
        raise CoerceError(errors[0] if len(errors) == 1 else f"field '{path}': {text!r} fits no branch of the union")
    if t.kind == "null":
        if text == "":
            return None
        raise CoerceError(f"field '{path}': {text!r} should be empty (null)")
    if t.kind == "boolean":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise CoerceError(f"field '{path}': {text!r} is not a boolean (true/false, 1/0, yes/no)")
    if t.kind in ("int", "long"):
        try:
            return int(text.strip())
        except ValueError:
            if t.logical in _MS_LOGICAL and text.strip():
                return _iso_to_ms(text, path)
            raise CoerceError(f"field '{path}': {text!r} is not an integer") from None
    if t.kind in ("float", "double"):
        try:
            return float(text.strip())
        except ValueError:
            raise CoerceError(f"field '{path}': {text!r} is not a number") from None
    if t.kind in ("string", "enum"):
        return text
    if t.kind in ("bytes", "fixed"):
        return text.encode("utf-8")
    if t.kind in ("array", "map", "record"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CoerceError(f"field '{path}': a {t.kind} in a CSV cell must be JSON text ({exc.msg})") from exc
        return from_json(value, s, path, names)
    raise CoerceError(f"field '{path}': unsupported type {t.kind}")


def from_json(v: Any, s: Schema, path: str, names: dict[str, Schema]) -> Any:
    """JSON value adapted where JSON cannot express the Avro value (bytes, ISO timestamps)."""
    t = _type(s, names)
    if t.kind == "union":
        if v is None:
            return None
        for branch in t.schema:
            bt = _type(branch, names)
            if bt.kind in ("bytes", "fixed") and isinstance(v, str):
                return v.encode("utf-8")
            if bt.logical in _MS_LOGICAL and isinstance(v, str):
                return _iso_to_ms(v, path)
            if bt.kind in ("record", "map", "array") and isinstance(v, (dict, list)):
                return from_json(v, branch, path, names)
        return v
    if t.kind in ("bytes", "fixed") and isinstance(v, str):
        return v.encode("utf-8")
    if t.kind in ("int", "long") and t.logical in _MS_LOGICAL and isinstance(v, str):
        return _iso_to_ms(v, path)
    if t.kind == "array" and isinstance(v, list):
        return [from_json(x, t.schema["items"], f"{path}[{i}]", names) for i, x in enumerate(v)]
    if t.kind == "map" and isinstance(v, dict):
        return {k: from_json(x, t.schema["values"], f"{path}.{k}", names) for k, x in v.items()}
    if t.kind == "record" and isinstance(v, dict):
        fields = {f["name"]: f for f in t.schema["fields"]}
        out = dict(v)
        for k, x in v.items():
            if k in fields:
                out[k] = from_json(x, fields[k]["type"], f"{path}.{k}" if path else k, names)
        return out
    return v


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_UNIT = {
    "timestamp-millis": timedelta(milliseconds=1),
    "local-timestamp-millis": timedelta(milliseconds=1),
    "timestamp-micros": timedelta(microseconds=1),
    "local-timestamp-micros": timedelta(microseconds=1),
    "time-millis": timedelta(milliseconds=1),
    "time-micros": timedelta(microseconds=1),
}


def plain_values(v: Any, s: Schema, names: dict[str, Schema]) -> Any:
    """Undo fastavro's logical-type conversion (datetime/date/time back to ints), guided by `s`."""
    t = _type(s, names)
    if t.kind == "union":
        if isinstance(v, (datetime, date, time)):
            for branch in t.schema:
                if _type(branch, names).logical is not None:
                    return plain_values(v, branch, names)
        if isinstance(v, (dict, list)):
            for branch in t.schema:
                bt = _type(branch, names)
                if (bt.kind == "array") == isinstance(v, list) and bt.kind in ("record", "map", "array"):
                    return plain_values(v, branch, names)
        return v
    if isinstance(v, datetime) and t.logical in _UNIT:
        base = _EPOCH if v.tzinfo is not None else _EPOCH_NAIVE
        return (v - base) // _UNIT[t.logical]
    if isinstance(v, date) and not isinstance(v, datetime) and t.logical == "date":
        return (v - _EPOCH.date()).days
    if isinstance(v, time) and t.logical in _UNIT:
        delta = timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond)
        return delta // _UNIT[t.logical]
    if t.kind == "record" and isinstance(v, dict):
        for f in t.schema["fields"]:
            if f["name"] in v:
                v[f["name"]] = plain_values(v[f["name"]], f["type"], names)
        return v
    if t.kind == "array" and isinstance(v, list):
        return [plain_values(x, t.schema["items"], names) for x in v]
    if t.kind == "map" and isinstance(v, dict):
        return {k: plain_values(x, t.schema["values"], names) for k, x in v.items()}
    return v
