"""A slow, obviously-correct pure-Python reference of the feature semantics (tests only).

It keeps every applied event per (feature, key) and recomputes each value from scratch:

- b(t) = floor(t / H), n = W / H, L = ceil(allowed_lateness / H);
- maxb = newest bucket applied for (feature, key); an event is too late when b < maxb - L;
- retained events: bucket >= maxb - n - L + 1;
- prev = retained applied events with bucket in [b - n + 1, b];
- S = prev + [e] unless e's id was already applied (then S = prev, nothing applied);
- e is applied unless seen or too late.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from features.spec import FeatureSet, WindowFeature


@dataclass(frozen=True)
class _Ev:
    ts: int
    value: object
    seq: int


def _num(v: object) -> float:
    return float(v)  # bool -> 1.0/0.0


def _distinct_token(v: object) -> object:
    if isinstance(v, (bool, int, float)):
        return ("num", float(v) + 0.0)
    if isinstance(v, bytes):
        return ("str", v)
    return ("str", str(v).encode())


def aggregate(feat: WindowFeature, S: list[_Ev], prev: list[_Ev], t: int) -> float:
    """The value of `feat` over window set S (prev = S without the incoming copy)."""
    agg = feat.agg
    if agg == "count":
        return float(len(S))
    if agg == "since_prev":
        if not prev:
            return feat.window / 1000.0
        return max(t - max(e.ts for e in prev), 0) / 1000.0
    if agg == "distinct":
        return float(len({_distinct_token(e.value) for e in S}))
    if not S:
        return 0.0
    xs = [_num(e.value) for e in S]
    if agg == "sum":
        return math.fsum(xs)
    if agg == "mean":
        return math.fsum(xs) / len(xs)
    if agg == "min":
        return min(xs)
    if agg == "max":
        return max(xs)
    if agg == "std":
        mu = math.fsum(xs) / len(xs)
        return math.sqrt(math.fsum((x - mu) ** 2 for x in xs) / len(xs))
    if agg == "last":
        best = max(S, key=lambda e: (e.ts, e.seq))
        return _num(best.value)
    raise AssertionError(agg)


class ReferenceEngine:
    """Same contract as `FeatureEngine.process`, returning plain lists."""

    def __init__(self, feature_set: FeatureSet, ts_field: str, id_field: str) -> None:
        self.fs = feature_set
        self.ts_field = ts_field
        self.id_field = id_field
        self.names = feature_set.names
        self.applied: dict[tuple[int, str], list[_Ev]] = {}
        self.maxb: dict[tuple[int, str], int] = {}
        self.seen_ids: set[str] = set()
        self.seq = 0

    def _window(self, j: int, key: str, t: int) -> tuple[list[_Ev], bool]:
        feat = self.fs.windows[j]
        H, n = feat.bucket, feat.window // feat.bucket
        L = -(-self.fs.allowed_lateness // H)
        b = t // H
        mb = self.maxb.get((j, key))
        if mb is None:
            return [], False
        too_late = b < mb - L
        cut = mb - n - L + 1
        prev = [e for e in self.applied[(j, key)] if max(b - n + 1, cut) <= e.ts // H <= b]
        return prev, too_late

    def process(self, events: Sequence[Mapping]) -> tuple[list[list[float]], list[bool], list[bool]]:
        """Values (one list per event in `names` order), late flags, seen flags."""
        rows, lates, seens = [], [], []
        for ev in events:
            t = int(ev[self.ts_field])
            eid = str(ev[self.id_field])
            seen = eid in self.seen_ids
            self.seen_ids.add(eid)
            self.seq += 1
            row: dict[str, float] = {}
            late = False
            for j, feat in enumerate(self.fs.windows):
                key = str(ev[feat.entity])
                prev, too_late = self._window(j, key, t)
                late = late or too_late
                me = _Ev(t, ev.get(feat.field) if feat.field else None, self.seq)
                S = prev if seen else prev + [me]
                row[feat.name] = aggregate(feat, S, prev, t)
                if not seen and not too_late:
                    self.applied.setdefault((j, key), []).append(me)
                    H = feat.bucket
                    self.maxb[(j, key)] = max(self.maxb.get((j, key), t // H), t // H)
            for p in self.fs.passthrough:
                v = ev.get(p.field)
                row[p.name] = float(p.default) if v is None else float(v)
            for d in self.fs.derived:
                a, b = row[d.left], row[d.right]
                if d.op == "ratio":
                    row[d.name] = 0.0 if b == 0 else a / b
                elif d.op == "diff":
                    row[d.name] = a - b
                elif d.op == "sum":
                    row[d.name] = a + b
                else:
                    row[d.name] = a * b
            rows.append([row[n] for n in self.names])
            lates.append(late)
            seens.append(seen)
        return rows, lates, seens

    def lookup(self, entity: str, key: str, now_ms: int) -> dict[str, float]:
        """Window features of `entity`=`key` over the state only, as of `now_ms`."""
        out = {}
        for j, feat in enumerate(self.fs.windows):
            if feat.entity != entity:
                continue
            prev, _ = self._window(j, str(key), now_ms)
            out[feat.name] = aggregate(feat, prev, prev, now_ms)
        return out
