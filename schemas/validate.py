"""Record validation against a parsed schema, with messages that name the field.

fastavro's validator decides (fast path); when it says no, `explain` walks the record to say
which field is wrong and why.

>>> s = parse({"type": "record", "name": "E", "fields": [
...     {"name": "id", "type": "string"}, {"name": "amount", "type": "double"},
...     {"name": "note", "type": ["null", "string"], "default": None}]})
>>> validation_errors({"id": "a", "amount": 1.5}, s)
[]
>>> validation_errors({"id": "a", "amount": "x"}, s)
["field 'amount' expects double, got str 'x'"]
>>> validation_errors({"id": "a", "amount": float("nan")}, s)
["field 'amount' is nan; NaN and infinity are not accepted, send a finite number"]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fastavro.validation import validate as _fastavro_validate

from schemas.avsc import Schema, named_types, parse, type_name

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def find_non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """(path, value) of the first NaN/inf float anywhere in a decoded value, or None.

    >>> find_non_finite({"a": 1.0, "b": {"c": [0.5, float("inf")]}})
    ('b.c[1]', inf)
    """
    hit = _non_finite_at(value)
    return None if hit is None else (_path(hit[0], path), hit[1])


def _path(keys: tuple[str | int, ...], path: str = "") -> str:
    """`keys` as a field path after `path`: ``('b', 'c', 1)`` -> ``'b.c[1]'``."""
    for k in keys:
        path = f"{path}[{k}]" if isinstance(k, int) else (f"{path}.{k}" if path else str(k))
    return path


def _non_finite_at(value: Any) -> tuple[tuple[str | int, ...], float] | None:
    """(keys down to, value) of the first NaN/inf float in `value`, or None."""
    if type(value) is dict and _flat_and_finite(value):  # a flat record (the usual event): no path to build
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else ((), value)
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for k, v in items:
        hit = _non_finite_at(v)
        if hit is not None:
            return (k, *hit[0]), hit[1]
    return None


def _replaced(value: Any, keys: tuple[str | int, ...], new: Any) -> Any:
    """A copy of `value` with the item at `keys` replaced by `new` (the rest shared)."""
    if not keys:
        return new
    head, rest = keys[0], keys[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    out = list(value)
    out[head] = _replaced(out[head], rest, new)
    return out


_SCALARS = frozenset((str, int, bool, bytes, type(None)))


def _flat_and_finite(record: dict) -> bool:
    """Whether every value is a scalar and every float finite (False: let the walk decide)."""
    scalars = _SCALARS
    for v in record.values():
        t = type(v)
        if t is float:
            if v - v != 0.0:  # inf - inf and nan - nan are nan
                return False
        elif t not in scalars:
            return False
    return True


def _deref(s: Schema, names: dict[str, Schema]) -> Schema:
    if isinstance(s, str):
        return names.get(s, s)
    if isinstance(s, dict) and not isinstance(s.get("type"), str):
        return _deref(s["type"], names)
    if isinstance(s, dict) and s["type"] not in ("record", "error", "enum", "fixed", "array", "map"):
        return names.get(s["type"], s["type"])
    return s


def explain(value: Any, schema: Schema, *, allow_extra: bool = True) -> list[str]:
    """Every reason `value` does not match `schema` (parsed); empty when it matches."""
    names = named_types(schema)
    return _explain(value, schema, "", names, allow_extra)


def _explain(v: Any, s: Schema, path: str, names: dict[str, Schema], allow_extra: bool) -> list[str]:
    s = _deref(s, names)
    where = f"field '{path}'" if path else "the record"
    bad = [f"{where} expects {type_name(s)}, got {type(v).__name__} {_short(v)}"]
    if isinstance(s, list):
        for branch in s:
            if not _explain(v, branch, path, names, allow_extra):
                return []
        if v is None:
            return [f"{where} is missing or null but its type {type_name(s)} does not allow null"]
        return bad
    kind = s if isinstance(s, str) else s["type"]
    if kind == "null":
        return [] if v is None else bad
    if v is None:
        return [f"{where} is missing or null; it is required ({type_name(s)}, no default)"]
    if kind == "boolean":
        return [] if isinstance(v, bool) else bad
    if kind in ("int", "long"):
        if not isinstance(v, int) or isinstance(v, bool):
            return bad
        lo, hi = INT_RANGE if kind == "int" else LONG_RANGE
        return [] if lo <= v <= hi else [f"{where} = {v} is out of the {kind} range [{lo}, {hi}]"]
    if kind in ("float", "double"):
        return [] if isinstance(v, (int, float)) and not isinstance(v, bool) else bad
    if kind == "string":
        return [] if isinstance(v, str) else bad
    if kind == "bytes":
        return [] if isinstance(v, (bytes, bytearray)) else bad
    if kind == "fixed":
        if isinstance(v, (bytes, bytearray)) and len(v) == s["size"]:
            return []
        return [f"{where} expects {s['size']} bytes ({type_name(s)}), got {type(v).__name__} {_short(v)}"]
    if kind == "enum":
        return [] if v in s["symbols"] else [f"{where} = {_short(v)} is not one of the symbols {s['symbols']}"]
    if kind == "array":
        if not isinstance(v, (list, tuple)):
            return bad
        out: list[str] = []
        for i, item in enumerate(v):
            out += _explain(item, s["items"], f"{path}[{i}]", names, allow_extra)
        return out
    if kind == "map":
        if not isinstance(v, Mapping):
            return bad
        out = [f"{where} has a non-string key {_short(k)}" for k in v if not isinstance(k, str)]
        for k, item in v.items():
            out += _explain(item, s["values"], f"{path}.{k}" if path else str(k), names, allow_extra)
        return out
    if kind in ("record", "error"):
        if not isinstance(v, Mapping):
            return bad
        out = []
        known = set()
        for f in s["fields"]:
            known.add(f["name"])
            fpath = f"{path}.{f['name']}" if path else f["name"]
            if f["name"] not in v:
                if "default" in f:
                    continue
                probs = _explain(None, f["type"], fpath, names, allow_extra)
                if probs:
                    out.append(f"field '{fpath}' is missing; it is required (no default in the schema)")
                continue
            out += _explain(v[f["name"]], f["type"], fpath, names, allow_extra)
        if not allow_extra:
            for k in v:
                if k not in known:
                    kp = f"{path}.{k}" if path else str(k)
                    out.append(f"field '{kp}' is not in the schema; remove it or add it to the schema")
        return out
    return bad  # pragma: no cover - parse() rejects unknown types


def validation_errors(
    record: Any,
    schema: Schema,
    *,
    allow_non_finite: bool = False,
    allow_extra: bool = True,
) -> list[str]:
    """Readable problems of `record` against `schema` (parsed or raw); [] when valid.

    NaN/inf in a float/double field is a problem unless `allow_non_finite`; keys that are not
    schema fields are a problem only if `allow_extra` is False.
    """
    if not (isinstance(schema, dict) and "__fastavro_parsed" in schema):
        schema = parse(schema)
    ok = _fastavro_validate(record, schema, raise_errors=False)
    problems: list[str] = [] if ok else explain(record, schema, allow_extra=allow_extra)
    if ok and not allow_extra and isinstance(record, Mapping) and isinstance(schema, dict) and "fields" in schema:
        problems = explain(record, schema, allow_extra=False)
    if ok and not problems and not allow_non_finite:
        hit = _non_finite_at(record)
        if hit is not None:
            keys, x = hit
            # "or null" only where the schema takes a null in its place
            null_ok = _fastavro_validate(_replaced(record, keys, None), schema, raise_errors=False)
            problems.append(
                f"field '{_path(keys)}' is {x}; NaN and infinity are not accepted, "
                f"send a finite number{' or null' if null_ok else ''}"
            )
    if not ok and not problems:  # fastavro and the explainer disagree: still refuse, generically
        problems.append(f"the record does not match schema {type_name(schema)}")
    return problems
