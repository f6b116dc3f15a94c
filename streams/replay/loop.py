"""The deterministic replay loop: one `Processor`, merged inputs, ``now_ms`` = the item's time.

Labels are taught through `Processor.learn` (consecutive labels with the same ``ts`` in one call);
events are scored through `Processor.score` in runs: the events between two labels see the same
models (models change only when a label is learned), so a run is scored as one micro-batch (the
feature engine computes the whole run at once, the models score it event by event). A run is cut:

- after an event whose label is already waiting (an "early" label: ``label.ts <= event.ts``);
  `Processor.score` learns it right after the batch, so it must be the batch's last event;
- before an event at or past the deadline of the oldest waiting label (it expires first);
- at ``batch_size`` events, and when its time span would exceed the config's ``max_past`` /
  ``max_future`` ingestion rules (the batch clock is its last event's ``ts``; with these cuts every
  rule gives the same verdict as a per-event clock).

Features are computed ahead for up to ``feature_chunk`` events at a time (`PrimedEngine`): the
values are those of per-batch computation, at a fraction of the cost.

Every event is served at its own ``ts`` (the replay clock; `Processor.served_at_event_ts`): its
score records' ``served_ts`` is that ``ts`` (``latency_ms`` 0), and its snapshot expires
``snapshot_ttl`` after it, however the events were cut into batches.
Early labels whose event does not come within ``early_label_wait`` become orphans exactly when
the replay clock passes their deadline, as in the live worker.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from streams.gc_tuning import calm_gc
from streams.processor import LearnOutput, Processor, ScoreOutput
from streams.replay.merge import Item
from streams.replay.primed import PrimedEngine

#: ``on_scores(records)``: every score record of a batch (champion, challengers, baseline).
ScoreSink = Callable[[list[dict[str, Any]]], None]
#: ``on_drift(alerts, actions)``: the drift monitor's alerts and the actions it took (promote,
#: reset), as the live learner publishes them on `<p>.alerts` and `<p>.model-events`.
DriftSink = Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]
#: ``progress(items_done, events_done)``.
Progress = Callable[[int, int], None]


@dataclass
class ReplayStats:
    """What a replay did (label outcomes by status, events by fate)."""

    events: int = 0
    scored: int = 0
    dlq: int = 0
    labels: int = 0
    predictions: int = 0
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"learned": 0, "duplicate": 0, "early": 0, "orphan": 0})
    pending_at_end: int = 0
    alerts: int = 0  # drift alerts raised (logged under the run id by `on_drift`)
    dlq_records: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "dlq_records"}
        d["outcomes"] = dict(self.outcomes)
        return d


class ReplayLoop:
    """Drives one `Processor` over merged items; see the module doc.

    With ``feature_chunk > 0`` the processor's engine is replaced by a `PrimedEngine` wrapping it
    (give the loop a processor of its own, e.g. from `streams.wiring.memory_processor`).
    """

    def __init__(self, processor: Processor, *, on_scores: ScoreSink | None = None, on_drift: DriftSink | None = None,
                 batch_size: int = 2000, progress: Progress | None = None, progress_every: int = 5000,
                 feature_chunk: int = 5000, tune_gc: bool = True) -> None:
        if processor.learner is None:
            raise ValueError("replay needs a processor with a learner (streams.wiring.memory_processor)")
        self.p = processor
        processor.served_at_event_ts = True  # the replay clock: see the module doc
        self.on_scores = on_scores
        self.on_drift = on_drift
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        self.progress_every = progress_every
        self.stats = ReplayStats()
        self.tune_gc = tune_gc
        self._id = processor.config.event.id_field
        self._wait = processor.learner.join.early_label_wait_ms
        self._early: OrderedDict[str, int] = OrderedDict()  # event_id -> ts the label became early
        rules = processor.config.rules
        spans = [v for v in (getattr(rules, "max_past", None), getattr(rules, "max_future", None)) if v is not None]
        self._span = min(spans) if spans else None
        # features for long runs of events at once (see streams.replay.primed); 0 = per batch
        self.feature_chunk = int(feature_chunk)
        self._primed: PrimedEngine | None = None
        self._primed_to = 0  # every event of `items[:_primed_to]` was primed (see `_prime`)
        if self.feature_chunk > 0:
            ts_field = getattr(rules, "ts_field", None) or processor.config.event.time_field
            self._primed = PrimedEngine(processor.engine, rules, ts_field)
            processor.engine = self._primed  # type: ignore[assignment]
            processor.rules_passed = self._primed.passed  # the primer checked the rules: not twice

    # ------------------------------------------------------------------ driving
    def run(self, items: Sequence[Item]) -> ReplayStats:
        """Process every item in order; returns the stats (also on ``self.stats``).

        With `tune_gc` the objects alive at the start (the inputs) are frozen out of the cyclic
        collector and it runs less often: a replay keeps its inputs and one TTL of snapshots alive
        while allocating a few dozen containers per event, and the default thresholds rescanned
        that heap so often that it took up to half the time of a scoring-only replay.
        """
        with calm_gc() if self.tune_gc else nullcontext():
            return self._run(items)

    def _run(self, items: Sequence[Item]) -> ReplayStats:
        i, n = 0, len(items)
        self._primed_to = 0
        next_report = self.progress_every
        advance = getattr(self.p.snapshots, "advance", None)  # snapshots that expire on the replay clock
        early = self._early
        while i < n:
            it = items[i]
            if advance is not None:
                advance(it.ts)
            if early:
                self._expire(it.ts)
            if it.kind == "label":
                j = i + 1
                while j < n and items[j].kind == "label" and items[j].ts == it.ts:
                    j += 1
                self._learn(items[i:j], it.ts)
            else:
                if self._primed is not None and i >= self._primed_to:
                    self._prime(items, i)
                j = self._event_run_end(items, i)
                self._score(items[i:j])
            i = j
            if self.progress is not None and i >= next_report:
                self.progress(i, self.stats.events)
                next_report = i + self.progress_every
        self.stats.pending_at_end = len(self._early)
        if self.progress is not None:
            self.progress(n, self.stats.events)
        return self.stats

    def _event_run_end(self, items: Sequence[Item], i: int) -> int:
        early = self._early
        # at batch_size, and where the primed chunk ends
        stop = min(len(items), i + self.batch_size, self._primed_to if self._primed is not None else len(items))
        start = items[i].ts
        deadline = next(iter(early.values())) + self._wait if early else None  # the oldest early label expires
        j = i
        while j < stop:
            it = items[j]
            if it.kind != "event" or (self._span is not None and it.ts - start > self._span):
                break
            if deadline is not None and j > i and it.ts >= deadline:  # expire it before this event
                break
            j += 1
            if early and it.record.get(self._id) in early:
                break
        return j

    def _prime(self, items: Sequence[Item], i: int) -> None:
        assert self._primed is not None
        chunk: list[Item] = []
        n = len(items)
        while i < n and len(chunk) < self.feature_chunk:
            if items[i].kind == "event":
                chunk.append(items[i])
            i += 1
        self._primed.prime([c.record for c in chunk], [c.ts for c in chunk])
        self._primed_to = i

    # ------------------------------------------------------------------ steps
    def _score(self, batch: Sequence[Item]) -> None:
        now = batch[-1].ts
        # an Item has a Source's fields (topic, partition, offset, key, value): it is its own source
        records = [b.record for b in batch]
        out: ScoreOutput = self.p.score(records, batch, now_ms=now)  # type: ignore[arg-type]
        if self._primed is not None:
            self._primed.forget(records)
        s = self.stats
        s.batches += 1
        s.events += len(batch)
        s.scored += len(out.snapshots)
        s.dlq += len(out.dlq)
        s.dlq_records.extend(out.dlq)
        for o in out.learned:
            self._account(o.status, o.event_id, now)
            if o.alerts or o.actions:
                self._drift(o.alerts, o.actions)
        records = out.scores + out.shadow if out.shadow else out.scores
        s.predictions += len(records)
        if self.on_scores is not None and records:
            self.on_scores(records)

    def _learn(self, batch: Sequence[Item], now: int) -> None:
        if len(batch) == 1:  # the usual case
            b = batch[0]
            out: LearnOutput = self.p.learn([b.record], now_ms=now, positions=[(b.partition, b.offset)])
        else:
            out = self.p.learn([b.record for b in batch], now_ms=now, positions=[(b.partition, b.offset) for b in batch])
        if out.alerts or out.actions:
            self._drift(out.alerts, out.actions)
        stats = self.stats
        stats.labels += len(batch)
        counts = stats.outcomes
        for o in out.outcomes:
            status = o.status
            if status == "learned" and not self._early:  # the usual case: `_account` inlined
                counts["learned"] += 1
            else:
                self._account(status, o.event_id, now)

    def _expire(self, now: int) -> None:
        if not self._early:
            return
        oldest = next(iter(self._early.values()))
        if now - oldest < self._wait:
            return
        out = self.p.retry_pending(now)
        for o in out.outcomes:
            self._account(o.status, o.event_id, now)
        if out.alerts or out.actions:
            self._drift(out.alerts, out.actions)

    def _drift(self, alerts: list[dict[str, Any]], actions: list[dict[str, Any]]) -> None:
        self.stats.alerts += len(alerts)
        if self.on_drift is not None:
            self.on_drift(alerts, actions)

    def _account(self, status: str, event_id: str, now: int) -> None:
        outcomes = self.stats.outcomes
        outcomes[status] = outcomes.get(status, 0) + 1
        if status == "early":
            self._early[event_id] = now
        elif self._early and status in ("learned", "orphan"):
            self._early.pop(event_id, None)
