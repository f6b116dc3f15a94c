"""Turn a micro-batch of event mappings into typed columns, collecting what is invalid.

The fast path converts a whole column with numpy; only a column that fails it is walked
value by value to name the bad events, so valid batches cost a few C-level passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features.hashing import EXACT_INT, stable_hash
from features.spec import NUMERIC_AGGS, FeatureSet

_NUMBER_TYPES = frozenset({int, float, bool})


@dataclass
class Columns:
    """Typed columns of a batch; `problems` maps event index -> reasons it cannot be processed."""

    ts: np.ndarray
    ids: list[str]
    keys: dict[str, list[str]]
    numeric: dict[str, np.ndarray]
    hashes: dict[str, np.ndarray]
    passthrough: np.ndarray
    problems: dict[int, list[str]] = field(default_factory=dict)

    def problem_list(self) -> list[tuple[int, str]]:
        """(index, reason) pairs sorted by index."""
        return [(i, "; ".join(r)) for i, r in sorted(self.problems.items())]


@dataclass(frozen=True)
class ColumnPlan:
    """Which fields a feature set reads, and how."""

    ts_field: str
    id_field: str
    entities: tuple[str, ...]
    numeric_fields: tuple[str, ...]
    distinct_fields: tuple[str, ...]
    passthrough: tuple[tuple[str, float | None], ...]

    @classmethod
    def build(cls, fs: FeatureSet, ts_field: str, id_field: str) -> ColumnPlan:
        """The plan for `fs` with the given time and id fields."""
        numeric = [f.field for f in fs.windows if f.agg in NUMERIC_AGGS]
        distinct = [f.field for f in fs.windows if f.agg == "distinct"]
        return cls(
            ts_field=ts_field,
            id_field=id_field,
            entities=tuple(fs.entities),
            numeric_fields=tuple(dict.fromkeys(numeric)),  # type: ignore[arg-type]
            distinct_fields=tuple(dict.fromkeys(distinct)),  # type: ignore[arg-type]
            passthrough=tuple((p.field, p.default, p.exact) for p in fs.passthrough),
        )


_HASH_CACHE_LIMIT = 1_000_000


def extract(events: Sequence[Mapping], plan: ColumnPlan, hash_cache: dict | None = None) -> Columns:
    """Columns of `events` per `plan`; invalid events are listed in `Columns.problems`.

    `hash_cache` (str -> hash) is reused across batches when given; it is cleared when it
    grows past a million entries.
    """
    problems: dict[int, list[str]] = {}

    def bad(i: int, reason: str) -> None:
        problems.setdefault(i, []).append(reason)

    m = len(events)
    ts = _ts_column([e.get(plan.ts_field) for e in events], plan.ts_field, bad)
    ids = _id_column([e.get(plan.id_field) for e in events], plan.id_field, bad)
    keys = {ent: _str_column([e.get(ent) for e in events], f"key field {ent!r}", bad) for ent in plan.entities}
    numeric = {f: _float_column([e.get(f) for e in events], f, bad) for f in plan.numeric_fields}
    if hash_cache is None or len(hash_cache) > _HASH_CACHE_LIMIT:
        if hash_cache is not None:
            hash_cache.clear()
        else:
            hash_cache = {}
    hashes = {f: _hash_column([e.get(f) for e in events], f, bad, hash_cache) for f in plan.distinct_fields}
    passthrough = np.zeros((m, len(plan.passthrough)), dtype=np.float64)
    for j, (fname, default, exact) in enumerate(plan.passthrough):
        passthrough[:, j] = _passthrough_column([e.get(fname) for e in events], fname, default, bad, exact)
    return Columns(ts=ts, ids=ids, keys=keys, numeric=numeric, hashes=hashes, passthrough=passthrough, problems=problems)


#: Event times accepted (ms since the epoch): 1900-01-01 .. 2299-12-31 23:59:59.999 UTC, what a
#: DateTime64(3) column holds, so every scored event can be archived and analysed; bucket
#: arithmetic, the state's varints and float seconds stay exact far inside int64.
TS_RANGE = (-2_208_988_800_000, 10_413_791_999_999)


def _ts_column(values: list, name: str, bad) -> np.ndarray:
    if all(type(v) is int for v in values):
        try:
            arr = np.array(values, dtype=np.int64)
        except OverflowError:
            arr = None
        if arr is not None and (not len(arr) or (TS_RANGE[0] <= arr.min() and arr.max() <= TS_RANGE[1])):
            return arr
    out = np.zeros(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v is None:
            bad(i, f"missing time field {name!r}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            bad(i, f"time field {name!r} is {type(v).__name__}, expected int ms")
        elif isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            bad(i, f"time field {name!r} is {v!r}, expected an integral number of ms")
        elif not TS_RANGE[0] <= v <= TS_RANGE[1]:
            bad(i, f"time field {name!r} is {v!r}, out of range (ms since the epoch, years 1900-2299)")
        else:
            out[i] = int(v)
    return out


def _str_column(values: list, what: str, bad) -> list[str]:
    if all(type(v) is str for v in values):
        return values
    out = []
    for i, v in enumerate(values):
        if v is None:
            bad(i, f"missing {what}")
            out.append("")
        else:
            out.append(v if type(v) is str else str(v))
    return out


def _id_column(values: list, name: str, bad) -> list[str]:
    """`_str_column` of the event ids, refusing an empty or whitespace-only id: all such events
    would share one id, so every one after the first would be a duplicate and never counted."""
    ids = _str_column(values, f"id field {name!r}", bad)
    if "" in ids or any(map(str.isspace, ids)):
        for i, (v, s) in enumerate(zip(values, ids)):
            if v is not None and not s.strip():
                bad(i, f"event id field {name!r} is empty" + (f" (only whitespace: {s!r})" if s else ""))
    return ids


def _float_column(values: list, name: str, bad) -> np.ndarray:
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            arr = None
        if arr is not None and np.isfinite(arr).all():
            return arr
    out = np.zeros(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            bad(i, f"missing value field {name!r}")
        elif type(v) not in _NUMBER_TYPES and not isinstance(v, (int, float)):
            bad(i, f"value field {name!r} is {type(v).__name__}, expected a number")
        else:
            try:
                x = float(v)
            except OverflowError:
                x = math.inf
            if not math.isfinite(x):
                bad(i, f"value field {name!r} is not finite ({v!r})")
            else:
                out[i] = x
    return out


def _hash_column(values: list, name: str, bad, cache: dict) -> np.ndarray:
    types = set(map(type, values))
    if types <= _NUMBER_TYPES:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            arr = None
        # an int beyond EXACT_INT may have no exact float: `stable_hash` hashes it exactly
        if arr is not None and np.isfinite(arr).all() and (int not in types or np.abs(arr).max() <= EXACT_INT):
            return (arr + 0.0).view(np.int64).copy()
    if types == {str}:
        get = cache.get
        hs = [get(v) for v in values]
        if None not in hs:
            return np.array(hs, dtype=np.int64)
    out = np.zeros(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v is None:
            bad(i, f"missing value field {name!r}")
            continue
        try:
            h = cache.get(v) if type(v) is str else None
            if h is None:
                h = stable_hash(v)
                if type(v) is str:
                    cache[v] = h
            out[i] = h
        except (TypeError, ValueError) as exc:
            bad(i, f"value field {name!r}: {exc}")
    return out


#: The largest integer from which every smaller one is a distinct float64.
_EXACT = 2**53


def _beyond_exact(values: list) -> bool:
    return any(type(v) is int and not -_EXACT <= v <= _EXACT for v in values)


def _passthrough_column(values: list, name: str, default: float | None, bad, exact: bool = False) -> np.ndarray:
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            arr = None
        if arr is not None and np.isfinite(arr).all() and not (exact and _beyond_exact(values)):
            return arr
    out = np.zeros(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            if default is None:
                bad(i, f"missing passthrough field {name!r} and no default; set `default` or fix the event")
            else:
                out[i] = default
            continue
        try:
            x = float(v)
        except (TypeError, ValueError, OverflowError):
            bad(i, f"passthrough field {name!r} is {v!r}, not a number")
            continue
        if not math.isfinite(x):
            bad(i, f"passthrough field {name!r} is not finite ({v!r})")
        elif exact and x != v:  # (an int a float64 cannot hold)
            bad(i, f"passthrough field {name!r} is {v!r}, an id beyond 2**53 that a float64 feature would merge "
                   "with its neighbours: give ids below 2**53 (e.g. a dense index)")
        else:
            out[i] = x
    return out
