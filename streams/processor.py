"""The deterministic core shared by the live worker and replay: score a batch, learn labels.

`Processor.score` takes decoded events (with where they came from) and returns what to publish:
champion scores, shadow scores (challengers, baseline), DLQ records, and the snapshots it stored.
`Processor.learn` joins labels to the served snapshots and teaches every model. Neither does
Kafka I/O nor reads a clock: `now_ms` is passed in, so replay can run the very same code.

>>> # see tests/streams/test_join.py for a full example on in-memory stores
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from features import Attached, FeatureBatch, FeatureEngine
from learners import Learner, LearnOutcome, ModelSet, Prediction, predict
from schemas import check_rules, make_dlq_record, sure_pass
from streams.config import PipelineConfig
from streams.snapshots import Served, Snapshot, SnapshotStore

log = logging.getLogger(__name__)


#: Events served up to this long after a label was learned may have been learned then (the
#: scorers' clocks against the learner's, different hosts): their labels ask the learned marks.
MARKS_CLOCK_MARGIN_MS = 60_000


@dataclass(frozen=True)
class Source:
    """Where a message came from (replay from an archive uses topic '' and offset -1)."""

    topic: str = ""
    partition: int = -1
    offset: int = -1
    key: bytes | None = None
    value: bytes = b""


@dataclass
class ScoreOutput:
    """What one scored batch produced."""

    scores: list[dict[str, Any]] = field(default_factory=list)
    shadow: list[dict[str, Any]] = field(default_factory=list)
    dlq: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    learned: list[LearnOutcome] = field(default_factory=list)
    redelivered: int = 0
    duplicates: int = 0
    late: int = 0

    def add(self, other: ScoreOutput) -> None:
        """Append what `other` produced (records, letters, snapshots) and add its counts."""
        for name in ("scores", "shadow", "dlq", "snapshots", "learned"):
            getattr(self, name).extend(getattr(other, name))
        self.redelivered += other.redelivered
        self.duplicates += other.duplicates
        self.late += other.late


@dataclass
class LearnOutput:
    """What one batch of labels produced."""

    outcomes: list[LearnOutcome] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: labels read again below the offset of the checkpoint the learner resumed from: no outcome
    #: (the checkpoint already counted them), only this count
    redelivered: int = 0


class Processor:
    """Features -> models -> score records and snapshots; labels -> snapshots -> learn_one."""

    def __init__(self, config: PipelineConfig, engine: FeatureEngine, models: ModelSet, learner: Learner | None,
                 snapshots: SnapshotStore, run_id: str, *, snapshots_with_state: bool = False) -> None:
        """`snapshots_with_state`: the snapshots are written by the feature-state commit, in
        the same atomic step (`snapshots.attached`; the engine's store `commits_attached`, on
        the same server), so no event is ever applied to its windows without its snapshot."""
        self.config = config
        self.engine = engine
        self.models = models
        self.learner = learner
        self.snapshots = snapshots
        self.run_id = run_id
        if snapshots_with_state and not engine.commits_attached:
            raise ValueError(f"{type(engine.store).__name__} cannot commit snapshots with the state")
        if snapshots_with_state and not callable(getattr(snapshots, "attached", None)):
            raise ValueError(f"{type(snapshots).__name__} has no `attached`: its snapshots cannot ride in the "
                             "feature-state commit (see streams.snapshots.AttachedSnapshots)")
        self.snapshots_with_state = snapshots_with_state
        self.names = engine.names
        self._ev = config.event
        # After a loss of feature state, events whose window reaches back before the first event
        # scored on the empty state are flagged degraded (their windows miss what was lost).
        self._refill_ms: int | None = None
        self.degraded_until_event_ms = -(2**62)
        #: labels-topic partition -> next offset held by the checkpoint this worker resumed from
        self.resume_offsets: dict[int, int] = {}
        self.counters: dict[str, int] = {"events": 0, "scored": 0, "dlq": 0, "late": 0, "redelivered": 0, "duplicates": 0}
        self._rules_ts = config.rules.ts_field or self._ev.time_field
        #: Optional ``passed(records) -> [bool]``: True for a record already known to pass the
        #: ingestion rules at this batch's clock, so `check_rules` is not run on it again (the
        #: replay's primer checked every event once, see `streams.replay.primed`). False: check.
        self.rules_passed: Callable[[Sequence[dict[str, Any]]], Sequence[bool]] | None = None
        #: the rules' quick test (None: always `check_rules`); a record it is not sure of is checked
        self._sure = sure_pass(config.rules, ts_field=self._rules_ts)
        #: True in replay: each event is served at its own ``ts`` (the replay clock), so its
        #: snapshot's TTL runs from there, whatever batch it was scored in. The live worker serves
        #: a batch at one time (`served_clock`, else the batch clock).
        self.served_at_event_ts = False
        #: Live learners: events served before this time (ms) may have been learned by an earlier
        #: learner process; a label of one is looked up in the store's learned marks (None: never)
        self.marks_before_ms: int | None = None

    def mark_state_lost(self, refill_ms: int) -> None:
        """Feature state was lost: flag scores degraded until windows of `refill_ms` refill, from
        the batch being scored (if called while its features are computed) or the next one."""
        self._refill_ms = refill_ms

    # ------------------------------------------------------------------ scoring
    def score(self, records: Sequence[dict[str, Any]], sources: Sequence[Source], now_ms: int,
              received_ms: int | None = None, served_clock: Callable[[], int] | None = None) -> ScoreOutput:
        """Score a micro-batch of decoded events, in order.

        `now_ms` is the batch's clock (rules, lateness, state). A record's ``served_ts`` is
        `served_clock()` read once the models have predicted (the live worker's wall clock), else
        `now_ms`, or its event's ``ts`` with `served_at_event_ts` (replay); its ``latency_ms`` is
        ``served_ts - received_ms`` (0 without `received_ms`).
        """
        out = ScoreOutput()
        self.counters["events"] += len(records)
        ok = self._admit(records, sources, now_ms, out)
        everyone = len(ok) == len(records)
        events = list(records) if everyone else [records[i] for i in ok]
        if events:
            srcs = list(sources) if everyone else [sources[i] for i in ok]

            def serve(fb: FeatureBatch, into: ScoreOutput) -> None:
                # `mark_state_lost` may be called while the batch's state is loaded (the live
                # worker reads the state-loss marker with it): this batch is then the first flagged
                if self._refill_ms is not None:
                    first = min(int(e[self._ev.time_field]) for e in events)
                    self.degraded_until_event_ms = first + self._refill_ms
                    self._refill_ms = None
                to_score = self._triage(events, srcs, fb, now_ms, into)
                self._serve(events, srcs, fb, to_score, now_ms, received_ms, into, served_clock)

            if self.snapshots_with_state:
                # served before the commit, every attempt afresh; the one that lands writes its
                # snapshots with the state (a crash in between leaves neither)
                tried: list[ScoreOutput] = []

                def attach(fb: FeatureBatch) -> Attached:
                    tried[:] = [ScoreOutput()]
                    serve(fb, tried[0])
                    return self.snapshots.attached(tried[0].snapshots)

                self.engine.process(events, attach=attach)
                out.add(tried[0])
            else:
                serve(self.engine.process(events), out)
                self.snapshots.put_many(out.snapshots)
            self._learn_waiting(out, now_ms)
        self.counters["scored"] += len(out.snapshots)
        self.counters["late"] += out.late
        self.counters["redelivered"] += out.redelivered
        self.counters["duplicates"] += out.duplicates
        self.counters["dlq"] += len(out.dlq)
        return out

    def _admit(self, records: Sequence[dict[str, Any]], sources: Sequence[Source], now_ms: int,
               out: ScoreOutput) -> list[int]:
        """Indexes of the records that pass the ingestion rules and the engine's checks; the
        others go to the DLQ before any feature state is touched."""
        rules, ts_field = self.config.rules, self._rules_ts
        passed = self.rules_passed(records) if self.rules_passed is not None else None
        if passed is not None and all(passed):  # all known to pass (replay, the usual case)
            ok = list(range(len(records)))
            invalid = self.engine.validate(records)
            if not invalid:
                return ok
            return self._reject_invalid(invalid, ok, sources, now_ms, out)
        ok = []
        sure = self._sure
        for i, rec in enumerate(records):
            if (passed is not None and passed[i]) or (sure is not None and type(rec) is dict and sure(rec, now_ms)):
                ok.append(i)
                continue
            problems = check_rules(rec, rules, now_ms, ts_field=ts_field)
            if problems:
                out.dlq.append(self._dlq(sources[i], "rule_violation", "; ".join(problems), now_ms))
            else:
                ok.append(i)
        invalid = self.engine.validate(records if len(ok) == len(records) else [records[i] for i in ok])
        if not invalid:
            return ok
        return self._reject_invalid(invalid, ok, sources, now_ms, out)

    def _reject_invalid(self, invalid: list[tuple[int, str]], ok: list[int], sources: Sequence[Source], now_ms: int,
                        out: ScoreOutput) -> list[int]:
        """DLQ the records `validate` refused (`invalid`: positions in `ok`); the rest of `ok`."""
        for j, reason in invalid:
            out.dlq.append(self._dlq(sources[ok[j]], "rule_violation", reason, now_ms))
        bad = {ok[j] for j, _ in invalid}
        return [i for i in ok if i not in bad]

    def _triage(self, events: list[dict[str, Any]], sources: list[Source], fb: FeatureBatch, now_ms: int,
                out: ScoreOutput) -> list[int]:
        """Which events to serve now. An id the feature store had already applied is a
        redelivery (same Kafka position as its snapshot: re-emit what was served) or a duplicate
        (another position: DLQ). Applied without a snapshot, its snapshot expired
        (``labels.snapshot_ttl`` shorter than ``features.dedup_horizon``) or was evicted: the
        live store commits a batch's snapshots with its state (`snapshots_with_state`), a replay
        keeps both in one process, so it was served once. It is a duplicate too: served again,
        it would get other values (its own and later events are in the state already), a second
        score record, and its label would be learned with what nobody was served; its label is
        an orphan instead, as a label past the TTL is."""
        if not _any(fb.seen):  # no id applied before (the usual case): serve them all
            return list(range(len(events)))
        id_of = self._ev.id_field
        to_score: list[int] = []
        to_score_ids: set[str] = set()
        seen_idx = [j for j in range(len(events)) if fb.seen[j]]
        prior = dict(zip((events[j][id_of] for j in seen_idx), self.snapshots.get_many([events[j][id_of] for j in seen_idx])))
        for j, ev in enumerate(events):
            eid = ev[id_of]
            if fb.seen[j]:
                src = sources[j]
                snap = prior.get(eid)
                if snap is not None and snap.same_source(src.topic, src.partition, src.offset):
                    self._emit((snap,), snap.features[None, :], out)
                    out.redelivered += 1
                    continue
                gone = snap is None and eid not in to_score_ids
                why = ("; its served snapshot has expired (labels.snapshot_ttl), so its score is not "
                       "served again and its label will be an orphan") if gone else ""
                out.dlq.append(self._dlq(src, "duplicate", f"event id {eid!r} was already scored (within the "
                                         f"dedup horizon); the first one counts{why}", now_ms))
                out.duplicates += 1
                continue
            to_score.append(j)
            to_score_ids.add(eid)
        return to_score

    def _serve(self, events: list[dict[str, Any]], sources: list[Source], fb: FeatureBatch, to_score: list[int],
               now_ms: int, received_ms: int | None, out: ScoreOutput,
               served_clock: Callable[[], int] | None = None) -> None:
        """Predict with every model, make the snapshots and emit the score records."""
        names, values = self.names, fb.values
        everyone = len(to_score) == len(values)
        if not everyone:
            values = values[to_score]
        vals = values.tolist()
        # the score records' feature dicts (the usual case: all finite), the models get copies
        # (FeatureEngine.rows' dicts: a model never sees the dict a record holds)
        finite = _all_finite(values, vals)
        rows = [dict(zip(names, row)) for row in vals]
        xs = [r.copy() for r in rows] if finite else rows
        try:
            preds = self.models.predict_many_full(xs)
            failed = _non_finite(preds)
        except Exception:  # noqa: BLE001 - a model failing on some event must not stop scoring
            preds, failed = self._predict_each(xs)
            failed = {**_non_finite(preds), **failed}  # (a failed one is 0.0)
        if failed:
            for n, reason in sorted(failed.items()):
                out.dlq.append(self._dlq(sources[to_score[n]], "model_error", reason, now_ms))
            keep = [n for n in range(len(rows)) if n not in failed]
            to_score, rows, values = [to_score[n] for n in keep], [rows[n] for n in keep], values[keep]
            preds = {m: [p[n] for n in keep] for m, p in preds.items()}
        # each event's Served tuple, one per model in served_by() order
        served = list(zip(*[[Served(m, v, r, float(p.score), p.label) for p in preds[m]]
                            for m, v, r in self.models.served_by()]))
        served_ts = served_clock() if served_clock is not None else now_ms
        latency = float(served_ts - received_ms) if received_ms is not None else 0.0
        seg_fields = self.config.segments
        id_f, key_f, ts_f = self._ev.id_field, self._ev.key_field, self._ev.time_field
        late = fb.late.tolist()
        feats = fb.values
        snaps: list[Snapshot] = []
        n_late = 0
        at_event_ts = self.served_at_event_ts
        for n, j in enumerate(to_score):
            ev, src, is_late = events[j], sources[j], late[j]
            ts = int(ev[ts_f])
            snaps.append(Snapshot(
                ev[id_f], str(ev.get(key_f, "")), ts, ts if at_event_ts else served_ts, latency, feats[j], served[n],
                src.topic, src.partition, src.offset,
                tuple([(f, str(ev.get(f, ""))) for f in seg_fields]) if seg_fields else (), is_late,
            ))
            n_late += is_late
        out.late += n_late
        out.snapshots.extend(snaps)
        self._emit(snaps, values, out, rows if finite else None)

    def _predict_each(self, rows: list[dict[str, float]]) -> tuple[dict[str, list[Prediction]], dict[int, str]]:
        """`predict_many_full` one event and model at a time, after a model raised on the batch:
        the predictions (a failed one is 0.0, its event left out by the caller) and, by row, why
        a model failed. The event's features are in the windows already: it is dead-lettered
        (``model_error``), not scored, and its label becomes an orphan."""
        task, models = self.models.task, self.models.models
        preds: dict[str, list[Prediction]] = {name: [] for name in models}
        failed: dict[int, str] = {}
        for n, x in enumerate(rows):
            for name, model in models.items():
                try:
                    preds[name].append(predict(task, model, x))
                except Exception as exc:  # noqa: BLE001 - any error of a user's model
                    preds[name].append(Prediction(0.0))
                    failed.setdefault(n, f"model {name!r} failed on this event ({type(exc).__name__}: {exc}); "
                                         "its features are counted in the windows, it was not scored")
        return preds, failed

    def _learn_waiting(self, out: ScoreOutput, now_ms: int) -> None:
        """Learn the pending labels whose events were just served (their snapshots stored)."""
        learner = self.learner
        if learner is not None and learner.has_pending:  # per event of the batch, not per pending label
            for snap in out.snapshots:
                if learner.waits_for(snap.event_id):
                    outcome = learner.on_snapshot(snap.event_id, self.learner_view(snap), now_ms)
                    if outcome is not None:
                        out.learned.append(outcome)

    def _emit(self, snaps: Sequence[Snapshot], values: Any, out: ScoreOutput,
              features_of: list[dict[str, float]] | None = None) -> None:
        """One score record per model of each snapshot; `values`: their feature rows (n, k)
        (`features_of`: their ``features`` dicts, if the caller has them, all values finite).

        The records of one event share one ``features`` dict (non-finite values as 0.0) and
        one ``segments`` dict.
        """
        names, run_id, degraded_until = self.names, self.run_id, self.degraded_until_event_ms
        if features_of is None:
            feature_rows = values.tolist()
            if not _all_finite(values, feature_rows):
                feature_rows = np.where(np.isfinite(values), values, 0.0).tolist()
            features_of = [dict(zip(names, row)) for row in feature_rows]
        scores, shadow = out.scores, out.shadow
        for snap, features in zip(snaps, features_of):
            segments = dict(snap.segments)
            event_id, key, event_ts = snap.event_id, snap.key, snap.event_ts
            degraded = event_ts < degraded_until
            for s in snap.served:
                is_shadow = s.role != "champion"
                (shadow if is_shadow else scores).append({
                    "event_id": event_id, "key": key, "event_ts": event_ts, "model": s.model,
                    "model_version": int(s.version), "role": s.role, "shadow": is_shadow,
                    "prediction": s.prediction, "predicted_label": s.predicted_label, "served_ts": snap.served_ts,
                    "latency_ms": snap.latency_ms, "run_id": run_id, "features": features,
                    "segments": segments, "late": snap.late, "degraded": degraded,
                })

    def _dlq(self, src: Source, error_class: str, reason: str, now_ms: int) -> dict[str, Any]:
        return make_dlq_record(self.config.pipeline, src.topic, src.partition, src.offset, src.key, src.value,
                               error_class, reason, now_ms)

    # ------------------------------------------------------------------ learning
    def learner_view(self, snap: Snapshot) -> dict[str, Any]:
        """The snapshot in the form `learners.Learner` takes: the exact x and served predictions."""
        return {
            "x": dict(zip(self.names, snap.features.tolist())),  # = snap.x(self.names)
            "predictions": {s.model: Prediction(s.prediction, s.predicted_label) for s in snap.served},
        }

    def fetch(self, event_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """Snapshots of many events in one round trip, in the learner's form."""
        snaps = self.snapshots.get_many(event_ids)
        view = self.learner_view
        return {e: (view(s) if s is not None else None) for e, s in zip(event_ids, snaps)}

    def learn(self, labels: Sequence[dict[str, Any]], now_ms: int,
              positions: Sequence[tuple[int, int]] | None = None) -> LearnOutput:
        """Join each label to its served snapshot and teach every model, in order."""
        learner = self.learner
        if learner is None:
            raise RuntimeError("this processor has no learner (a scorer-only worker)")
        out = LearnOutput()
        checkpointed, view, learn = self.resume_offsets, self.learner_view, learner.learn
        # one round trip for the batch (snapshots change only when events are scored, not here)
        snaps = self.snapshots.get_many([lab["event_id"] for lab in labels])
        before = self._learned_before(labels, snaps)
        for i, lab in enumerate(labels):
            part, off = positions[i] if positions else (None, None)
            if checkpointed and part is not None and off is not None and off < checkpointed.get(part, 0):
                # After a restart Kafka redelivers labels the restored model already holds
                # (committed offsets trail checkpoints): exactly once by position. Not an outcome:
                # the restored counts hold this label's outcome already (a `duplicate` here counted
                # every label between the commit and the checkpoint twice).
                out.redelivered += 1
                continue
            snap = snaps[i]
            snapshot = None if snap is None else view(snap)
            if snapshot is not None and learner.waits_for(lab["event_id"]):
                # its first label waits (the event was scored by another process): that one
                # is learned, this copy then counts as a duplicate (the first label wins)
                first = learner.on_snapshot(lab["event_id"], snapshot, now_ms)
                if first is not None:
                    self._gather(out, first)
            outcome = learn(lab, snapshot, now_ms, partition=part, offset=off,
                            learned_before=lab["event_id"] in before)
            self._gather(out, outcome)
        return out

    def _learned_before(self, labels: Sequence[dict[str, Any]], snaps: list[Snapshot | None]) -> set[str]:
        """The labels' events that an earlier learner process learned (marked in the store).

        Only events served before `marks_before_ms` (the checkpoint this learner resumed from, plus
        a minute) can have been (later ones were learned, if at all, by this process, which
        remembers them), or before the newest id this learner dropped from its memory
        (`Learner.forgot_until_ms`, ``labels.max_learned_ids``), plus a minute: the labels of
        newer events never ask.
        """
        since, learner = self.marks_before_ms, self.learner
        if learner is None:
            return set()
        if learner.forgot_until_ms is not None:  # ids it learned up to then left its memory
            forgot = learner.forgot_until_ms + MARKS_CLOCK_MARGIN_MS
            since = forgot if since is None else max(since, forgot)
        if since is None:
            return set()
        ask = [lab["event_id"] for lab, snap in zip(labels, snaps)
               if snap is not None and snap.served_ts < since and not learner.knows(lab["event_id"])]
        if not ask:
            return set()
        return {e for e, marked in zip(ask, self.snapshots.learned_many(ask)) if marked}

    @staticmethod
    def _gather(out: LearnOutput, outcome: LearnOutcome) -> None:
        out.outcomes.append(outcome)
        if outcome.alerts:
            out.alerts.extend(outcome.alerts)
        if outcome.actions:
            out.actions.extend(outcome.actions)

    def retry_pending(self, now_ms: int) -> LearnOutput:
        """Look again for the snapshots of early labels; expire the ones that waited too long."""
        out = LearnOutput()
        if self.learner is None:
            return out
        for outcome in self.learner.retry(now_ms, self.fetch):
            self._gather(out, outcome)
        return out


# Micro-batches in replay are often 1-2 events: below this size plain Python beats a numpy call.
_SMALL = 16


def _any(flags: np.ndarray) -> bool:
    return True in flags.tolist() if len(flags) <= _SMALL else bool(flags.any())


def _non_finite(preds: dict[str, list[Prediction]]) -> dict[int, str]:
    """By row, why a prediction cannot be served: a model returned NaN or an infinity (a diverged
    regression, a custom model's bug). Like a model that raised: the event is dead-lettered
    (``model_error``), downstream services never get a score that is not a number."""
    failed: dict[int, str] = {}
    for name, ps in preds.items():
        if all(map(math.isfinite, [p.score for p in ps])):  # (the usual case: one pass in C)
            continue
        for n, p in enumerate(ps):
            if not math.isfinite(p.score):
                failed.setdefault(n, f"model {name!r} returned a non-finite prediction ({p.score}) for this event; "
                                     "its features are counted in the windows, it was not scored")
    return failed


def _all_finite(values: np.ndarray, rows: list[list[float]]) -> bool:
    """Whether every value is finite (`rows` is ``values.tolist()``)."""
    if len(rows) > _SMALL:
        return bool(np.isfinite(values).all())
    return all(map(math.isfinite, chain.from_iterable(rows)))
