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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from features import FeatureEngine
from features.engine import FeatureBatch
from schemas import check_rules
from streams.exceptions import ReplayError


class PrimedEngine:
    """Wraps a `FeatureEngine`; `prime(events, now_of)` precomputes, `process` serves the cache."""

    def __init__(self, engine: FeatureEngine, rules: Any = None) -> None:
        self.engine = engine
        self.rules = rules
        self.names = engine.names
        self.feature_set = engine.feature_set
        self._rows: dict[int, tuple[np.ndarray, bool, bool]] = {}
        self._invalid: dict[int, str] = {}

    def __contains__(self, event: Mapping) -> bool:
        return id(event) in self._rows or id(event) in self._invalid

    def prime(self, events: Sequence[Mapping], now_ms: Sequence[int]) -> None:
        """Compute, in order, the features of every event the processor will accept."""
        ok: list[Mapping] = []
        for ev, now in zip(events, now_ms):
            if self.rules and check_rules(ev, self.rules, now):
                self._invalid[id(ev)] = "rules"
            else:
                ok.append(ev)
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
        for ev, values, late, seen in zip(accepted, fb.values, fb.late.tolist(), fb.seen.tolist()):
            self._rows[id(ev)] = (values, late, seen)

    # ------------------------------------------------------------ the FeatureEngine surface
    def validate(self, events: Sequence[Mapping]) -> list[tuple[int, str]]:
        out = []
        for j, ev in enumerate(events):
            reason = self._invalid.pop(id(ev), None)
            if reason is not None:
                out.append((j, reason))
            elif id(ev) not in self._rows:
                raise ReplayError("replay feature cache miss in validate (internal error): report it with the inputs")
        return out

    def process(self, events: Sequence[Mapping], *, partition_offsets: Mapping | None = None) -> FeatureBatch:
        try:
            got = [self._rows.pop(id(ev)) for ev in events]
        except KeyError as exc:
            raise ReplayError("replay feature cache miss (internal error): an event was scored that was not primed") from exc
        values = np.stack([g[0] for g in got]) if got else np.zeros((0, len(self.names)))
        return FeatureBatch(list(self.names), values, np.array([g[1] for g in got], dtype=np.bool_),
                            np.array([g[2] for g in got], dtype=np.bool_))

    def forget(self, events: Sequence[Mapping]) -> None:
        """Drop what is left of `events` in the cache (rule-rejected events never reach `validate`)."""
        for ev in events:
            self._invalid.pop(id(ev), None)
            self._rows.pop(id(ev), None)

    def rows(self, batch: FeatureBatch) -> list[dict[str, float]]:
        return self.engine.rows(batch)
