"""`Learner`: the delayed-label join, pure (no I/O: the caller fetches snapshots and publishes).

A label ``{event_id, label, ts}`` is learned with exactly the ``x`` of the event's served
snapshot (its `x` dict and served predictions), by every model. Statuses:

- ``learned``: joined and learned by every model;
- ``duplicate``: the event id was already learned within ``dedupe_horizon`` (or is pending), or
  its first label was an orphan and this one has another value (the first label wins);
- ``early``: no snapshot yet (the label may have overtaken its event): kept in a pending buffer
  (counted once; it later also counts as learned or orphan),
  learned when `on_snapshot` or `retry` finds the snapshot;
- ``orphan``: still no snapshot after ``early_label_wait`` (unknown id, expired snapshot), or the
  pending buffer is full. Orphans are returned to the caller to log; never silently dropped.
  An orphan's id and value are remembered for ``dedupe_horizon``: the same label sent again
  (once its event is scored) is learned, a label with another value is a duplicate.

`state()` is the bookkeeping to store with each checkpoint (labels-topic offsets, learned ids,
pending labels, counts, and the drift detectors and metrics as a base64 pickle); `load_state()`
resumes exactly: no label learned twice, none skipped, the same alerts as without the restart.

>>> from learners.config import ModelsConfig, JoinConfig
>>> from learners.model_set import ModelSet
>>> ms = ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"}))
>>> learner = Learner(ms, JoinConfig(early_label_wait="1s"))
>>> learner.learn({"event_id": "e1", "label": 1.0, "ts": 5}, None, now_ms=5).status
'early'
>>> snap = {"x": {"a": 1.0}, "predictions": {"lr": 0.5, "baseline": 0.0}}
>>> learner.on_snapshot("e1", snap, now_ms=6).status
'learned'
>>> learner.learn({"event_id": "e1", "label": 1.0, "ts": 7}, snap, now_ms=7).status
'duplicate'
>>> learner.learn({"event_id": "e2", "label": 0.0, "ts": 8}, None, now_ms=8).status
'early'
>>> [o.status for o in learner.expire(now_ms=2000)], learner.counts["orphan"]
(['orphan'], 1)
"""

from __future__ import annotations

import base64
import itertools
import json
import pickle
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal

from learners.config import JoinConfig
from learners.drift import DriftMonitor
from learners.exceptions import ModelInputError
from learners.model_set import ModelSet
from learners.predict import Prediction, loss

Status = Literal["learned", "duplicate", "early", "orphan"]
STATUSES: tuple[str, ...] = ("learned", "duplicate", "early", "orphan")

#: ``fetch(event_ids) -> {event_id: snapshot or None}``, one round trip for many ids.
Fetch = Callable[[list[str]], Mapping[str, dict | None]]
#: ``on_learn(event_id, x)``: called with the exact dict given to every model's learn_one.
LearnHook = Callable[[str, dict], None]


@dataclass
class LearnOutcome:
    """What happened to one label."""

    event_id: str
    status: Status
    label: dict[str, Any]
    y: Any = None
    losses: dict[str, float] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""
    #: the label's (partition, offset) on the labels topic, when known (an orphan's dead letter)
    position: tuple[int, int] | None = None


class LearnRecorder:
    """An `on_learn` hook that keeps every ``(event_id, x)`` given to the models (for tests).

    It stores the dict object itself, plus a copy taken at learn time, so a test can check
    both identity with the served dict and that no model mutated it.
    """

    def __init__(self) -> None:
        self.records: list[tuple[str, dict]] = []
        self.copies: list[dict] = []

    def __call__(self, event_id: str, x: dict) -> None:
        self.records.append((event_id, x))
        self.copies.append(dict(x))


class Learner:
    """Joins labels to served snapshots and teaches the `ModelSet`; counts every outcome."""

    def __init__(
        self,
        model_set: ModelSet,
        join: JoinConfig | None = None,
        *,
        drift: DriftMonitor | None = None,
        on_learn: LearnHook | None = None,
    ):
        self.model_set = model_set
        self.join = join or JoinConfig()  # (a property: its durations are parsed once, here)
        self.drift = drift
        self.on_learn = on_learn
        self.counts: dict[str, int] = {s: 0 for s in STATUSES}
        self.seq = 0  # labels processed: the newest checkpoint has the highest seq
        self._learned: OrderedDict[str, int] = OrderedDict()
        #: event id -> (its waiting label, since, its labels-topic (partition, offset) or None)
        self._pending: OrderedDict[str, tuple[dict[str, Any], int, tuple[int, int] | None]] = OrderedDict()
        #: event id -> (orphaned at, its first label's value), oldest first, for ``dedupe_horizon``
        self._orphaned: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        #: orphans (re)entered since the last `saved()`: a tailed checkpoint carries them all
        self._orphans_unsaved = 0
        #: event id -> (its pending label, since, that label's JSON) for `state_json`
        self._pending_json: dict[str, tuple[dict[str, Any], int, str]] = {}
        self._offsets: dict[int, int] = {}
        #: True when the caller marks learned ids in its snapshot store (a live learner): the ids
        #: learned since it last did are kept for it (`unmarked`, `marked`) and the checkpoint
        self.tracks_marks = False
        self._unmarked: list[str] = []
        #: learn time of the newest id dropped from memory by ``join.max_learned`` (None: none
        #: was): a label of an event served up to then may have been learned, its mark says
        self.forgot_until_ms: int | None = None
        #: True for a live learner, whose saved models another process may replace (a CLI
        #: rollback): each label learned since the last save is kept as (learned at, x, y), so a
        #: replaced model is taught again what came after its replacement (`reteach`)
        self.keeps_unsaved = False
        self._unsaved: list[tuple[int, dict, Any]] = []

    @property
    def join(self) -> JoinConfig:
        """The join settings (a frozen config; assigning a new one re-reads its durations)."""
        return self._join

    @join.setter
    def join(self, join: JoinConfig) -> None:
        self._join = join
        self._wait_ms = join.early_label_wait_ms
        self._horizon_ms = join.dedupe_horizon_ms
        self._max_learned = join.max_learned

    # --- the join -----------------------------------------------------------------------------
    def learn(
        self,
        label: Mapping[str, Any],
        snapshot: Mapping[str, Any] | None,
        now_ms: int,
        *,
        partition: int | None = None,
        offset: int | None = None,
        learned_before: bool = False,
    ) -> LearnOutcome:
        """Handle one label with the event's served `snapshot` (None if Redis had none).

        `partition`/`offset` (of the labels topic) are recorded for the checkpoint.
        `learned_before`: the snapshot store marks this event learned by an earlier learner
        process (a checkpoint covered it): the label is a duplicate.
        """
        label = dict(label)
        event_id = label.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise ModelInputError(f"label {label!r} has no event_id string: fix the label producer")
        if label.get("label") is None:
            raise ModelInputError(f"label for {event_id!r} has no 'label' value: send a number")
        self.seq += 1
        position = None
        if partition is not None and offset is not None:
            self._offsets[partition] = max(self._offsets.get(partition, 0), offset + 1)
            position = (partition, offset)
        learned, pending, orphaned = self._learned, self._pending, self._orphaned
        horizon = now_ms - self._horizon_ms
        if learned:
            _drop_older(learned, horizon)
            if event_id in learned:
                return self._count(LearnOutcome(event_id, "duplicate", label, detail="already learned"))
        if orphaned:
            _drop_older(orphaned, horizon, itemgetter(0))
            first = orphaned.get(event_id)
            if first is not None and first[1] != label["label"]:
                return self._count(LearnOutcome(
                    event_id, "duplicate", label,
                    detail=f"its first label ({first[1]!r}) was an orphan: the first label wins; send that one again"))
        if learned_before and event_id not in pending:
            return self._count(LearnOutcome(event_id, "duplicate", label, detail="already learned before a restart"))
        if snapshot is None:
            if event_id in pending:
                return self._count(LearnOutcome(event_id, "duplicate", label, detail="already pending"))
            if self._wait_ms == 0:
                return self._orphan(event_id, label, now_ms, "no snapshot", position)
            if len(pending) >= self._join.max_pending:
                return self._orphan(event_id, label, now_ms, "pending buffer full", position)
            pending[event_id] = (label, now_ms, position)
            return self._count(LearnOutcome(event_id, "early", label, detail="waiting for snapshot"))
        if pending and event_id in pending:
            # a first label waits for this snapshot: it is the one learned (the first label wins,
            # as in ClickHouse's labels table), this copy is a duplicate (callers that count
            # outcomes resolve the waiting one first with `on_snapshot`, see `Processor.learn`)
            first, _since, first_position = pending.pop(event_id)
            outcome = self._learn(event_id, first, snapshot, now_ms, first_position)
            self.counts["duplicate"] += 1
            if outcome.status == "learned":
                outcome.detail = "the first label, learned when a second copy came with the snapshot"
            return outcome
        return self._learn(event_id, label, snapshot, now_ms, position)

    def on_snapshot(
        self, event_id: str, snapshot: Mapping[str, Any], now_ms: int
    ) -> LearnOutcome | None:
        """A snapshot for `event_id` was just written: learn its pending label, if any."""
        entry = self._pending.pop(event_id, None)
        if entry is None:
            return None
        return self._learn(event_id, entry[0], snapshot, now_ms, entry[2])

    def retry(self, now_ms: int, fetch: Fetch) -> list[LearnOutcome]:
        """Fetch snapshots of all pending labels once; learn found ones, expire stale ones."""
        if not self._pending:
            return []
        found = fetch(list(self._pending))
        outcomes: list[LearnOutcome] = []
        for event_id in list(self._pending):
            snapshot = found.get(event_id)
            if snapshot is not None:
                outcome = self.on_snapshot(event_id, snapshot, now_ms)
                if outcome is not None:
                    outcomes.append(outcome)
        outcomes.extend(self.expire(now_ms))
        return outcomes

    def expire(self, now_ms: int) -> list[LearnOutcome]:
        """Declare orphan every pending label older than ``early_label_wait``."""
        wait = self._wait_ms
        outcomes = []
        for event_id, (label, since, position) in list(self._pending.items()):
            if now_ms - since >= wait:
                del self._pending[event_id]
                outcomes.append(self._orphan(event_id, label, now_ms, f"no snapshot after {now_ms - since} ms", position))
        return outcomes

    @property
    def has_pending(self) -> bool:
        """Whether any label waits for its snapshot (cheaper than ``bool(pending_ids)``)."""
        return bool(self._pending)

    @property
    def n_pending(self) -> int:
        """How many labels wait for their snapshot."""
        return len(self._pending)

    def release(self) -> None:
        """Drop the waiting labels: another learner process resumes them from the checkpoint
        that holds them (this one learns nothing until it resumes from a checkpoint again)."""
        self._pending.clear()
        self._pending_json.clear()
        self._unsaved.clear()

    def knows(self, event_id: str) -> bool:
        """Whether `event_id`'s label was learned within the dedup horizon (in this process, or
        in the checkpoint it resumed from)."""
        return event_id in self._learned

    def unmarked(self) -> list[str]:
        """The ids learned since `marked` was last called, oldest first."""
        return list(self._unmarked)

    def marked(self, n: int) -> None:
        """The first `n` ids of `unmarked()` are now marked learned in the snapshot store."""
        del self._unmarked[:n]
        if len(self._learned) > self._max_learned > 0:
            self._forget_oldest()

    def saved(self) -> None:
        """The models were just saved with everything learned so far (a checkpoint)."""
        self._unsaved.clear()
        self._orphans_unsaved = 0

    def reteach(self, name: str, since_ms: int) -> int:
        """Teach model `name` again the labels learned at or after `since_ms` and not saved yet;
        returns how many.

        For a model just replaced by a registry version made at `since_ms` by another process
        (`eddy models rollback`): the labels that reached this learner after that, it taught the
        copy the rollback replaced. Learning continues on top of the restored content, as if the
        learner had seen the rollback at once; labels learned before it stay with the copy the
        user rolled back from. (Learn times are this process's clock, `since_ms` the registry's
        Redis clock: the same clock on one host.) Needs `keeps_unsaved`.

        >>> from learners.config import ModelsConfig
        >>> lr = Learner(ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"})))
        >>> lr.keeps_unsaved = True
        >>> for t in (10, 20, 30):
        ...     _ = lr.learn({"event_id": f"e{t}", "label": 1.0, "ts": t}, {"x": {"a": 1.0}}, now_ms=t)
        >>> lr.reteach("lr", since_ms=20)
        2
        >>> lr.saved(); lr.reteach("lr", since_ms=0)
        0
        """
        n = 0
        for learned_at, x, y in self._unsaved:
            if learned_at >= since_ms:
                self.model_set.learn_model(name, x, y)
                n += 1
        return n

    def waits_for(self, event_id: str) -> bool:
        """Whether a label of `event_id` waits for its snapshot."""
        return event_id in self._pending

    @property
    def pending_ids(self) -> list[str]:
        """Event ids of labels waiting for their snapshot, oldest first."""
        return list(self._pending)

    # --- internals ----------------------------------------------------------------------------
    def _learn(
        self, event_id: str, label: dict[str, Any], snapshot: Mapping[str, Any], now_ms: int,
        position: tuple[int, int] | None = None,
    ) -> LearnOutcome:
        try:
            x = snapshot["x"]
        except (KeyError, TypeError) as exc:
            raise ModelInputError(f"snapshot of {event_id!r} has no 'x': it was not written by Eddy") from exc
        ms = self.model_set
        served = snapshot.get("predictions") or {}
        if self.on_learn is not None:
            self.on_learn(event_id, x)
        try:
            y = ms.learn_one(x, label["label"], served=served)
        except ModelInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a user's model failing on one label must not stop learning
            return self._orphan(event_id, label, now_ms, f"a model failed to learn it ({type(exc).__name__}: {exc}); "
                                "the models before it in the set may have", position)
        if self.keeps_unsaved:
            self._unsaved.append((now_ms, x, y))
        outcome = LearnOutcome(event_id, "learned", label, y=y)
        task, drift, losses, alerts = ms.task, self.drift, outcome.losses, outcome.alerts
        for name, pred in served.items():
            if name not in ms:
                continue
            p = pred if isinstance(pred, Prediction) else (
                Prediction(*pred) if isinstance(pred, (list, tuple)) else Prediction(pred)
            )
            value = loss(task, y, p)
            if value is not None:
                losses[name] = value
            if drift is not None:
                raised = drift.update(name, value, p.score, now_ms)
                if raised:
                    alerts.extend(raised)
        if drift is not None:
            # a promotion left pending by an earlier label is re-ranked with this one first: one
            # this label's alert leaves pending waits from the next label (`recent_window` of them)
            more: list = []
            if drift.promotion_pending:
                more, actions = drift.follow_up(ms, now_ms)
                outcome.actions.extend(actions)
            for alert in alerts:  # (usually none)
                done = drift.apply(alert, ms)
                if done is not None:
                    outcome.actions.append(done)
            alerts.extend(more)
        learned = self._learned
        learned[event_id] = now_ms
        if self._orphaned:
            self._orphaned.pop(event_id, None)
        if self.tracks_marks:
            self._unmarked.append(event_id)
            if len(learned) > self._max_learned > 0:
                self._forget_oldest()
        self.counts["learned"] += 1  # = self._count(outcome)
        return outcome

    def _count(self, outcome: LearnOutcome) -> LearnOutcome:
        self.counts[outcome.status] += 1
        return outcome

    def _orphan(self, event_id: str, label: dict[str, Any], now_ms: int, detail: str,
                position: tuple[int, int] | None) -> LearnOutcome:
        """Count an orphan and remember its id with the first label's value (a later label of
        another value is then a duplicate, as in ClickHouse's `labels` table)."""
        orphaned = self._orphaned
        first = orphaned.pop(event_id, None)
        orphaned[event_id] = (now_ms, label["label"] if first is None else first[1])
        self._orphans_unsaved += 1
        if len(orphaned) > self._max_learned > 0:
            orphaned.popitem(last=False)
        return self._count(LearnOutcome(event_id, "orphan", label, detail=detail, position=position))

    def _forget_oldest(self) -> None:
        """Drop the oldest learned ids beyond ``join.max_learned`` (their marks are in the store:
        an id is dropped only once marked, the unmarked being the newest)."""
        learned, keep = self._learned, max(self._max_learned, len(self._unmarked))
        while len(learned) > keep:
            _, at = learned.popitem(last=False)
            self.forgot_until_ms = at if self.forgot_until_ms is None else max(self.forgot_until_ms, at)

    # --- checkpoint ---------------------------------------------------------------------------
    @property
    def offsets(self) -> dict[int, int]:
        """Labels-topic partition -> next offset to read after a restart."""
        return dict(self._offsets)

    def state(self, learned_tail: int | None = None) -> dict[str, Any]:
        """JSON-able bookkeeping to store with a checkpoint (registry meta).

        `learned_tail`: keep only the most recent that many learned ids, and as many orphans
        (None: all in the dedup horizon); read from the end, so a small tail costs the same
        whatever the horizon. Either tail also keeps every id since the last `saved()`.
        """
        state = self._state_but_pending(learned_tail)
        state["pending"] = [_pending_entry(e, *entry) for e, entry in self._pending.items()]
        return state

    def _state_but_pending(self, learned_tail: int | None) -> dict[str, Any]:
        if learned_tail is not None:  # every id not yet marked in the store rides with the checkpoint
            learned_tail = max(learned_tail, len(self._unmarked))
        learned = [[e, t] for e, t in _newest(self._learned, learned_tail)]
        orphans_tail = None if learned_tail is None else max(learned_tail, self._orphans_unsaved)
        return {
            "seq": self.seq,
            "offsets": {str(p): o for p, o in self._offsets.items()},
            "learned": learned,
            "orphaned": [[e, t, v] for e, (t, v) in _newest(self._orphaned, orphans_tail)],
            "counts": dict(self.counts),
            "monitor": self._monitor_blob(),
        }

    def _monitor_blob(self) -> str:
        """The drift detectors and the models' metrics: state that is not JSON (River's ADWIN),
        pickled like the models it is stored with (compressed: the metrics' AUC histograms are
        mostly zeros)."""
        drift = self.drift.state() if self.drift is not None else None
        blob = pickle.dumps({"drift": drift, "metrics": self.model_set.metrics_state()}, pickle.HIGHEST_PROTOCOL)
        return base64.b64encode(zlib.compress(blob, 1)).decode("ascii")

    def state_json(self, learned_tail: int | None = None) -> str:
        """`state()` as JSON text (what the registry stores), built without re-encoding the
        pending labels: each one's JSON is kept from the checkpoint that first wrote it. In a
        catch-up a learner can hold many thousands, and each checkpoint encoded them all again.

        >>> import json
        >>> from learners.config import ModelsConfig
        >>> lr = Learner(ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"})))
        >>> _ = lr.learn({"event_id": "e1", "label": 1.0, "ts": 5}, None, now_ms=5)
        >>> json.loads(lr.state_json()) == lr.state()
        True
        """
        pending, cache = self._pending, self._pending_json
        frags = []
        for event_id, (label, since, position) in pending.items():
            hit = cache.get(event_id)
            if hit is None or hit[0] is not label or hit[1] != since:  # (the same id may be pending again)
                hit = cache[event_id] = (label, since, json.dumps(_pending_entry(event_id, label, since, position)))
            frags.append(hit[2])
        if len(cache) > 2 * len(pending) + 1024:  # forget the labels that are no longer pending
            self._pending_json = {e: cache[e] for e in pending if e in cache}
        head = json.dumps(self._state_but_pending(learned_tail))  # a dict: ends with "}"
        return f'{head[:-1]}, "pending": [{", ".join(frags)}]}}'

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Resume from `state()` as stored with the models that were restored."""
        self._unsaved.clear()  # (what it held is in no restored model: Kafka delivers it again)
        self.seq = int(state.get("seq", 0))
        self._offsets = {int(p): int(o) for p, o in state.get("offsets", {}).items()}
        self._learned = OrderedDict((e, int(t)) for e, t in state.get("learned", []))
        self._orphaned = OrderedDict((e, (int(t), v)) for e, t, v in state.get("orphaned", []))
        self._orphans_unsaved = 0
        self.forgot_until_ms = None  # (the caller asks the marks for what came before the checkpoint)
        if self.tracks_marks:  # (a crash may have come between a save and its marks)
            self._unmarked = list(self._learned)
        self._pending = OrderedDict(
            (e, (dict(label), int(t), (int(rest[0]), int(rest[1])) if len(rest) == 2 else None))
            for e, label, t, *rest in state.get("pending", []))
        self.counts = {s: 0 for s in STATUSES} | {k: int(v) for k, v in state.get("counts", {}).items()}
        if state.get("monitor"):  # (absent in checkpoints written before it was stored)
            blob = zlib.decompress(base64.b64decode(state["monitor"]))
            monitor = pickle.loads(blob)  # the registry's own, as its models are
            self.model_set.load_metrics_state(monitor.get("metrics") or {})
            if self.drift is not None and monitor.get("drift") is not None:
                self.drift.load_state(monitor["drift"], self.model_set.names)


def _newest(entries: OrderedDict, n: int | None) -> list[tuple[Any, Any]]:
    """The newest `n` items of `entries` (all for None), oldest first, read from the end.

    >>> _newest(OrderedDict(a=1, b=2, c=3), 2), len(_newest(OrderedDict(a=1), None))
    ([('b', 2), ('c', 3)], 1)
    """
    if n is None:
        return list(entries.items())
    tail = list(itertools.islice(reversed(entries.items()), n))
    tail.reverse()
    return tail


def _drop_older(entries: OrderedDict, horizon: int, when: Callable[[Any], int] = int) -> None:
    """Drop the entries (oldest first) whose time, ``when(value)``, is before `horizon`."""
    while entries and when(next(iter(entries.values()))) < horizon:
        entries.popitem(last=False)


def _pending_entry(event_id: str, label: dict[str, Any], since: int, position: tuple[int, int] | None) -> list:
    """A waiting label as the checkpoint stores it: ``[id, label, since]`` (+ partition, offset)."""
    return [event_id, label, since] if position is None else [event_id, label, since, *position]
