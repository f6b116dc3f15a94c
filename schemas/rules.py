"""Ingestion rules: cheap checks on a decoded event before any feature state is touched.

In a pipeline's YAML::

    rules:
      required: [event_id, card_id, amount, ts]
      ranges: {amount: {min: 0, max: 100000}}
      allowed: {currency: [EUR, USD, GBP]}
      max_length: {merchant: 64}
      max_string_length: 1024
      ts_field: ts
      max_future: 5m
      max_past: 7d
      max_message_bytes: 65536

>>> rules = IngestRules(required=["id"], ranges={"amount": {"min": 0}}, allowed={"cur": ["EUR"]})
>>> check_rules({"id": "a", "amount": -5.0, "cur": "XYZ"}, rules, now_ms=0)
['amount=-5.0 is below min 0', "cur='XYZ' is not one of ['EUR']"]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas.durations import format_duration, parse_duration

Duration = Annotated[int, BeforeValidator(parse_duration)]
_MISSING = object()


class Range(BaseModel):
    """Inclusive numeric bounds; either may be omitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: int | float | None = None
    max: int | float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}; swap them")
        return self


class IngestRules(BaseModel):
    """Quality rules of a pipeline's input events. Field names may be dotted (`card.country`).

    - `required`: fields that must be present and not null.
    - `ranges`: numeric bounds per field (inclusive); NaN/inf always violate a range.
    - `allowed`: allowed values per field.
    - `max_length`: max length per string field; `max_string_length`: for every other top-level
      string field.
    - `ts_field`, `max_future`, `max_past`: the event time (ms) may be at most `max_future` ahead
      of / `max_past` behind the processing clock `now_ms` (durations: "5m", "7d", or ms).
    - `max_message_bytes`: max size of the raw message (see `check_size`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    required: tuple[str, ...] = ()
    ranges: dict[str, Range] = Field(default_factory=dict)
    allowed: dict[str, tuple[str | int | float | bool, ...]] = Field(default_factory=dict)
    max_length: dict[str, int] = Field(default_factory=dict)
    max_string_length: int | None = None
    ts_field: str | None = None
    max_future: Duration | None = None
    max_past: Duration | None = None
    max_message_bytes: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _lengths_positive(self) -> IngestRules:
        bad = [k for k, v in self.max_length.items() if v < 0]
        if bad or (self.max_string_length is not None and self.max_string_length < 0):
            raise ValueError(f"max lengths must be >= 0 (fields {bad or ['max_string_length']})")
        return self

    @property
    def is_empty(self) -> bool:
        """True when no rule is set (the check can be skipped)."""
        return self == IngestRules()


def _get(record: Mapping[str, Any], path: str) -> Any:
    if path in record:
        return record[path]
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _num(x: float) -> str:
    return repr(x)


def check_rules(
    record: Mapping[str, Any], rules: IngestRules, now_ms: int, *, ts_field: str | None = None
) -> list[str]:
    """Readable violations of `rules` by `record` ([] when it passes).

    `ts_field` overrides `rules.ts_field` (e.g. the pipeline's time field).
    """
    out: list[str] = []
    for name in rules.required:
        v = _get(record, name)
        if v is _MISSING:
            out.append(f"field '{name}' is required but missing")
        elif v is None:
            out.append(f"field '{name}' is required but null")
    for name, rng in rules.ranges.items():
        v = _get(record, name)
        if v is _MISSING or v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(f"{name}={v!r} is not a number (range needs one)")
        elif isinstance(v, float) and not math.isfinite(v):
            out.append(f"{name}={v} is not a finite number")
        elif rng.min is not None and v < rng.min:
            out.append(f"{name}={_num(v)} is below min {_num(rng.min)}")
        elif rng.max is not None and v > rng.max:
            out.append(f"{name}={_num(v)} is above max {_num(rng.max)}")
    for name, values in rules.allowed.items():
        v = _get(record, name)
        if v is _MISSING or v is None:
            continue
        if not any(a == v and isinstance(a, bool) == isinstance(v, bool) for a in values):
            out.append(f"{name}={v!r} is not one of {list(values)}")
    for name, limit in rules.max_length.items():
        v = _get(record, name)
        if isinstance(v, (str, bytes, list, tuple, dict)) and len(v) > limit:
            out.append(f"{name} has length {len(v)}, more than max_length {limit}")
    if rules.max_string_length is not None:
        for name, v in record.items():
            if name not in rules.max_length and isinstance(v, str) and len(v) > rules.max_string_length:
                out.append(f"{name} has length {len(v)}, more than max_string_length {rules.max_string_length}")
    field = ts_field or rules.ts_field
    if field is not None and (rules.max_future is not None or rules.max_past is not None):
        ts = _get(record, field)
        if ts is _MISSING or ts is None:
            if field not in rules.required:
                out.append(f"time field '{field}' is missing, so its age cannot be checked")
        elif isinstance(ts, bool) or not isinstance(ts, int):
            out.append(f"{field}={ts!r} is not an int of ms since the epoch")
        elif rules.max_future is not None and ts - now_ms > rules.max_future:
            out.append(
                f"{field}={ts} is {format_duration(ts - now_ms)} ahead of now ({now_ms}), "
                f"more than max_future {format_duration(rules.max_future)}"
            )
        elif rules.max_past is not None and now_ms - ts > rules.max_past:
            out.append(
                f"{field}={ts} is {format_duration(now_ms - ts)} behind now ({now_ms}), "
                f"more than max_past {format_duration(rules.max_past)}"
            )
    return out


#: The `IngestRules` fields `sure_pass` knows; rules setting any other field are always checked.
_KNOWN_RULES = frozenset(("required", "ranges", "allowed", "max_length", "max_string_length", "ts_field",
                          "max_future", "max_past", "max_message_bytes"))


def sure_pass(rules: IngestRules, *, ts_field: str | None = None) -> Callable[[dict, int], bool] | None:
    """A quick test, ``sure(record, now_ms)``, True only for records `check_rules` passes.

    False means "not sure": the caller then runs `check_rules` for the reasons. It runs for every
    event (live and replayed), so it makes no call per field, unlike `check_rules`. Built for
    top-level field names; None when a rule names a nested field (``card.id``) or the rules have
    fields it does not know. `ts_field` overrides `rules.ts_field`, as in `check_rules`.

    >>> sure = sure_pass(IngestRules(required=["id"], ranges={"amount": {"min": 0}}, max_past="1h"), ts_field="ts")
    >>> sure({"id": "a", "amount": 5, "ts": 1_000}, 2_000), sure({"id": "a", "amount": -5, "ts": 1_000}, 2_000)
    (True, False)
    """
    fields = getattr(type(rules), "model_fields", None)
    if fields is None or any(getattr(rules, f, None) not in (None, (), {}) for f in set(fields) - _KNOWN_RULES):
        return None
    field = ts_field or rules.ts_field
    max_future, max_past = rules.max_future, rules.max_past
    timed = field if field is not None and (max_future is not None or max_past is not None) else None
    names = [*rules.required, *rules.ranges, *rules.allowed, *rules.max_length, *([timed] if timed else [])]
    if any("." in n for n in names):
        return None
    required = tuple(rules.required)
    ranges = tuple((n, r.min, r.max) for n, r in rules.ranges.items())
    allowed = tuple((n, frozenset(a for a in values if type(a) is str)) for n, values in rules.allowed.items())
    max_length = tuple(rules.max_length.items())
    longest = rules.max_string_length
    isfinite = math.isfinite

    def sure(rec: dict, now_ms: int) -> bool:
        for name in required:
            if rec.get(name) is None:
                return False
        for name, lo, hi in ranges:
            v = rec.get(name)
            if v is None:
                continue
            t = type(v)
            if (t is not float and t is not int) or (t is float and not isfinite(v)):
                return False
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                return False
        for name, strings in allowed:
            v = rec.get(name)
            if v is not None and (type(v) is not str or v not in strings):
                return False
        for name, limit in max_length:
            v = rec.get(name)
            if isinstance(v, (str, bytes, list, tuple, dict)) and len(v) > limit:
                return False
        if longest is not None:  # (a long string under its own max_length: not sure either)
            for v in rec.values():
                if isinstance(v, str) and len(v) > longest:
                    return False
        if timed is not None:
            ts = rec.get(timed)
            if type(ts) is not int:
                return False
            if (max_future is not None and ts - now_ms > max_future) or (max_past is not None and now_ms - ts > max_past):
                return False
        return True

    return sure


def check_size(n_bytes: int, rules: IngestRules) -> str | None:
    """Violation text if a raw message of `n_bytes` exceeds `rules.max_message_bytes`, else None.

    >>> check_size(70_000, IngestRules(max_message_bytes=65_536))
    'message has 70000 bytes, more than max_message_bytes 65536'
    """
    if rules.max_message_bytes is not None and n_bytes > rules.max_message_bytes:
        return f"message has {n_bytes} bytes, more than max_message_bytes {rules.max_message_bytes}"
    return None
