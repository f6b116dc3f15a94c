"""`PrimedEngine`: the replay's feature engine, computing features for long runs of events at once.

Features never depend on labels, so the replay computes them for up to ``chunk`` upcoming events
(across the labels between them) in one `FeatureEngine.process` call, in replay order, and the
`Processor` then scores its small batches (cut by labels) from that cache: same values, one Numba
call per entity per chunk instead of per batch. The processor code is unchanged: this class is
the engine it is given. Only events that the processor will also pass to ``process`` are primed
(ingestion rules with the replay clock = the event's ts, then `validate`), in the same order; a
batch that asks for an event that was not primed is an internal error, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from features import FeatureEngine, FeatureInputError
from features.engine import FeatureBatch
from schemas import check_rules, sure_pass
from streams.exceptions import ReplayError


class PrimedEngine:
    """Wraps a `FeatureEngine`; `prime(events, now_of)` precomputes, `process` serves the cache.

    `passed(records)` hands the primer's rule verdicts to the processor (`Processor.rules_passed`),
    so the ingestion rules run once per event, not twice. `ts_field` is the field the rules' time
    limits read (the rules' own ``ts_field``, else the pipeline's time field, as in the processor).
    """

    def __init__(self, engine: FeatureEngine, rules: Any = None, ts_field: str | None = None) -> None:
        self.engine = engine
        self.rules = rules
        self.ts_field = ts_field
        self.names = engine.names
        self.feature_set = engine.feature_set
        self._at: dict[int, tuple[FeatureBatch, int]] = {}  # id(event) -> (its primed chunk, row)
        self._invalid: dict[int, str] = {}  # id(event) -> why validate rejects it ("rules": the rules did)
        self._broke_rules: set[int] = set()
        self._sure: Callable[[dict, int], bool] | None = None  # see `schemas.sure_pass`

    def __contains__(self, event: Mapping) -> bool:
        return id(event) in self._at or id(event) in self._invalid

    def prime(self, events: Sequence[Mapping], now_ms: Sequence[int]) -> None:
        """Compute, in order, the features of every event the processor will accept."""
        ok: list[Mapping] = []
        rules, ts_field = self.rules, self.ts_field
        if rules and self._sure is None:
            self._sure = sure_pass(rules, ts_field=ts_field)
        sure = self._sure
        for ev, now in zip(events, now_ms):
            if not rules or (sure is not None and type(ev) is dict and sure(ev, now)):
                ok.append(ev)
            elif check_rules(ev, rules, now, ts_field=ts_field):
                self._invalid[id(ev)] = "rules"
                self._broke_rules.add(id(ev))
            else:
                ok.append(ev)
        if not ok:
            return
        try:  # `process` checks the chunk before it touches any state (one pass over the events)
            fb = self.engine.process(ok)
            accepted = ok
        except FeatureInputError:  # some event is unprocessable: sort them out, then process the rest
            bad = dict(self.engine.validate(ok))
            accepted = []
            for j, ev in enumerate(ok):
                if j in bad:
                    self._invalid[id(ev)] = bad[j]
                else:
                    accepted.append(ev)
            if not accepted:
                return
            fb = self.engine.process(accepted)
        at = self._at
        for i, ev in enumerate(accepted):
            at[id(ev)] = (fb, i)

    def passed(self, records: Sequence[Mapping]) -> list[bool]:
        """For each record: True if it was primed and passed the rules (the processor skips them)."""
        return [(id(r) in self._at or id(r) in self._invalid) and id(r) not in self._broke_rules for r in records]

    # ------------------------------------------------------------ the FeatureEngine surface
    def validate(self, events: Sequence[Mapping]) -> list[tuple[int, str]]:
        out = []
        for j, ev in enumerate(events):
            reason = self._invalid.pop(id(ev), None)
            if reason is not None:
                out.append((j, reason))
            elif id(ev) not in self._at:
                raise ReplayError("replay feature cache miss in validate (internal error): report it with the inputs")
        return out

    def process(self, events: Sequence[Mapping], *, partition_offsets: Mapping | None = None) -> FeatureBatch:
        try:
            got = [self._at.pop(id(ev)) for ev in events]
        except KeyError as exc:
            raise ReplayError("replay feature cache miss (internal error): an event was scored that was not primed") from exc
        if not got:
            empty = np.zeros(0, dtype=np.bool_)
            return FeatureBatch(list(self.names), np.zeros((0, len(self.names))), empty, empty.copy())
        chunk, first = got[0]
        consecutive, same_chunk = True, True
        for k, (c, i) in enumerate(got):
            if c is not chunk:
                same_chunk = False
                break
            if i != first + k:
                consecutive = False
        if same_chunk:  # the loop cuts batches at chunk ends: the usual case
            if consecutive:  # consecutive rows: views, no copies
                cut = slice(first, first + len(got))
                return FeatureBatch(list(self.names), chunk.values[cut], chunk.late[cut], chunk.seen[cut])
            idx = [g[1] for g in got]
            return FeatureBatch(list(self.names), chunk.values[idx], chunk.late[idx], chunk.seen[idx])
        return FeatureBatch(list(self.names), np.stack([c.values[i] for c, i in got]),
                            np.array([c.late[i] for c, i in got], dtype=np.bool_),
                            np.array([c.seen[i] for c, i in got], dtype=np.bool_))

    def forget(self, events: Sequence[Mapping]) -> None:
        """Drop what is left of `events` in the cache (rule-rejected events never reach `validate`;
        every other event left the cache through `validate` or `process`)."""
        if not self._broke_rules:
            return
        for ev in events:
            self._invalid.pop(id(ev), None)
            self._at.pop(id(ev), None)
            self._broke_rules.discard(id(ev))

    def rows(self, batch: FeatureBatch) -> list[dict[str, float]]:
        return self.engine.rows(batch)
