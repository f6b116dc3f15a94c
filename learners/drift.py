"""`DriftMonitor`: per-model ADWIN on the loss stream and on the prediction stream.

`update(model, loss, prediction, now_ms)` feeds one labelled outcome of one model and returns
alert dicts ``{model, kind, ts, value, action, detail}`` (kind ``loss_drift`` or
``prediction_drift``; value: the detector's mean after the change; the detail names the mean of
what the detection cut off, the level before the change). ``action`` is the configured action
when the kind is listed in ``act_on`` (for ``loss_drift``: only when the loss rose), else ``none``. After
an alert, a detector starts over, as River's ADWIN does, except a loss detector whose mean
fell: it keeps the window from the cut on, so a rise right after an improvement is not missed.
`apply(alert, model_set)` carries it out and rewrites ``alert["action"]`` to what was actually
done (``none`` when, e.g., no challenger beats the champion or the cooldown is running).

An alert's ``ts`` is the caller's clock, moved on by a millisecond when an earlier alert of the
same model and kind already holds it (a batch of labels shares one clock reading; the alerts
table keeps one row per model, kind and ts). `state()` / `load_state()` carry the detectors,
the recent losses, the cooldown and a pending promotion across a learner restart (the learner
stores them with its checkpoint), so a restarted learner alerts as one that never stopped.

>>> from learners.config import DriftConfig
>>> mon = DriftMonitor(DriftConfig(grace_period=10))
>>> alerts = [a for i in range(400) for a in mon.update("m", 0.1 if i < 200 else 2.0, None, i)]
>>> alerts[0]["kind"], alerts[0]["model"], alerts[0]["ts"] > 200
('loss_drift', 'm', True)
>>> alerts[0]["detail"]  # from the level before the change to the mean of the window kept
'mean loss rose from 0.1 to 1.24 (ADWIN window 40.0)'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from river import drift

from learners.config import DriftConfig

Alert = dict[str, Any]
#: the cooldown key of promotions (resets are keyed by their model)
PROMOTE = "promote"


class DriftMonitor:
    """Drift detectors for every model of a `ModelSet`, plus each model's recent mean loss."""

    def __init__(self, config: DriftConfig):
        self.config = config
        self._loss: dict[str, drift.ADWIN] = {}
        self._pred: dict[str, drift.ADWIN] = {}
        self._recent: dict[str, deque[float]] = {}
        #: when each model was last acted on (reset, promoted or demoted), and the last
        #: promotion (key ``PROMOTE``: the champion role is one, whoever holds it): the cooldown
        self._last_action_ms: dict[str, int] = {}
        # a champion's loss-drift alert whose promotion found no better challenger yet:
        # (alert, labels left) — re-ranked on each later label until a challenger wins or it expires
        self._pending: tuple[Alert, int] | None = None
        self._last_ts: dict[tuple[str, str], int] = {}  # (model, kind) -> ts of its last alert

    def _loss_detector(self, model: str) -> drift.ADWIN:
        if model not in self._loss:
            c = self.config
            self._loss[model] = drift.ADWIN(delta=c.delta, clock=c.clock, grace_period=c.grace_period)
        return self._loss[model]

    def _pred_detector(self, model: str) -> drift.ADWIN:
        if model not in self._pred:
            c = self.config
            self._pred[model] = drift.ADWIN(delta=c.prediction_delta, clock=c.clock, grace_period=c.grace_period)
        return self._pred[model]

    def recent_loss(self, model: str) -> tuple[float, int] | None:
        """Mean loss of `model` over the last ``recent_window`` labels, and how many there were."""
        window = self._recent.get(model)
        if not window:
            return None
        return sum(window) / len(window), len(window)

    def update(
        self, model: str, loss: float | None, prediction: float | None, now_ms: int
    ) -> list[Alert]:
        """Feed one outcome of `model`; return the alerts it raised (often none)."""
        config = self.config
        if not config.enabled:
            return []
        alerts: list[Alert] = []
        if loss is not None:
            window = self._recent.get(model)
            if window is None:
                window = self._recent[model] = deque(maxlen=config.recent_window)
            window.append(loss)
            detector = self._loss.get(model)
            if detector is None:
                detector = self._loss_detector(model)
            before, width = _feed(detector, loss)
            if detector.drift_detected:
                after = detector.estimation
                worse = after > before
                level = _level_before(before, width, loss, detector)
                if not worse:
                    # The loss fell: keep the window from the cut on, so the improved level is
                    # what a later rise is measured against. River's ADWIN starts over after any
                    # detection; after a fall that left it blind to a rise in the next
                    # grace_period labels (a champion went bad right after improving, unseen).
                    detector._drift_detected = False
                acts = worse and "loss_drift" in config.act_on
                alerts.append(
                    self._alert(
                        model, "loss_drift", now_ms, after, acts,
                        f"mean loss {'rose' if worse else 'fell'} from {level:.6g} to "
                        f"{after:.6g} (ADWIN window {detector.width})",
                    )
                )
        if prediction is not None and config.prediction_detector == "adwin":
            detector = self._pred.get(model)
            if detector is None:
                detector = self._pred_detector(model)
            before, width = _feed(detector, prediction)
            if detector.drift_detected:
                after = detector.estimation
                level = _level_before(before, width, prediction, detector)
                acts = "prediction_drift" in config.act_on
                alerts.append(
                    self._alert(
                        model, "prediction_drift", now_ms, after, acts,
                        f"mean prediction moved from {level:.6g} to {after:.6g} "
                        f"(ADWIN window {detector.width})",
                    )
                )
        return alerts

    def _alert(self, model: str, kind: str, ts: int, value: float, acts: bool, detail: str) -> Alert:
        ts = self._stamp(model, kind, ts)
        action = self.config.action if acts else "none"
        return {"model": model, "kind": kind, "ts": ts, "value": float(value), "action": action, "detail": detail}

    def _stamp(self, model: str, kind: str, ts: int) -> int:
        """`ts`, or 1 ms after the last alert of (`model`, `kind`) if that one is not older."""
        last = self._last_ts.get((model, kind))
        if last is not None and ts <= last:
            ts = last + 1
        self._last_ts[(model, kind)] = ts
        return ts

    # --- restart ------------------------------------------------------------------------------
    def _params(self) -> tuple:
        c = self.config
        params = (c.delta, c.prediction_delta, c.grace_period, c.prediction_detector)
        # River's default clock adds nothing: checkpoints from before `clock` was a setting match
        return params if c.clock == ADWIN_CLOCK else (*params, c.clock)

    def state(self) -> dict[str, Any]:
        """What a restarted learner needs to alert as if it never stopped (picklable, not JSON):
        the detectors, the recent losses, the last action's time, a pending promotion."""
        return {
            "params": self._params(),
            "loss": self._loss, "pred": self._pred,
            "recent": {m: list(w) for m, w in self._recent.items()},
            "last_action_ms": self._last_action_ms, "pending": self._pending,
            "last_ts": dict(self._last_ts),
        }

    def load_state(self, state: Mapping[str, Any], models: Iterable[str]) -> None:
        """Resume from `state()` for the `models` that still exist. Detectors built with other
        parameters (the config's drift settings changed) are not restored: they start clean."""
        keep = set(models)
        if tuple(state.get("params", ())) == self._params():
            self._loss = {m: d for m, d in state.get("loss", {}).items() if m in keep}
            self._pred = {m: d for m, d in state.get("pred", {}).items() if m in keep}
        window = self.config.recent_window
        self._recent = {m: deque(w, maxlen=window) for m, w in state.get("recent", {}).items() if m in keep}
        last = state.get("last_action_ms")
        if isinstance(last, int):  # (a checkpoint from before cooldowns were per model: for all)
            last = {**{m: last for m in keep}, PROMOTE: last}
        self._last_action_ms = dict(last or {})
        pending = state.get("pending")
        self._pending = pending if pending is not None and pending[0].get("model") in keep else None
        self._last_ts = {k: v for k, v in state.get("last_ts", {}).items() if k[0] in keep}

    def forget(self, model: str) -> None:
        """Drop `model`'s detectors and recent losses (after a reset: a new model starts clean)."""
        self._loss.pop(model, None)
        self._pred.pop(model, None)
        self._recent.pop(model, None)

    def apply(self, alert: Alert, model_set: Any) -> dict[str, Any] | None:
        """Carry out ``alert["action"]`` on `model_set`; return what was done, or None.

        ``reset`` rebuilds the alerting model; ``promote`` (champion alerts only) makes the
        challenger with the lowest recent loss champion if it beats the champion's recent loss
        (a challenger needs ``min(recent_window, grace_period)`` recent losses to be ranked).
        ``alert["action"]`` and ``alert["detail"]`` are updated to tell what happened.
        """
        action = alert.get("action", "none")
        if action == "none":
            return None
        now = int(alert["ts"])
        model = alert["model"]
        last_ms = self._last_action_ms
        for key in (PROMOTE, model) if action == "promote" else (model,):
            last = last_ms.get(key)
            if last is not None and now - last < self.config.cooldown_ms:
                what = "promotion" if key == PROMOTE else f"action on {model!r}"
                return self._skip(alert, f"cooldown: last {what} at {last}")
        if action == "reset":
            model_set.reset(model)
            self.forget(model)
            last_ms[model] = now
            return {"action": "reset", "model": model, "ts": now}
        if action == "promote":
            if model_set.roles.get(model) != "champion":
                return self._skip(alert, f"{model!r} is not the champion")
            ranked = self._best_challenger(model, model_set)
            if ranked is None:
                # the challengers' recent windows still hold losses from before the change:
                # keep ranking them for the next `recent_window` labels (see `follow_up`)
                self._pending = ({**alert}, self.config.recent_window)
                return self._skip(alert, "no challenger has a lower recent loss than the champion yet "
                                         f"(re-ranked for the next {self.config.recent_window} labels)")
            best, best_loss, champion_loss = ranked
            previous = model_set.promote(best)
            last_ms[PROMOTE] = last_ms[best] = last_ms[model] = now
            self._pending = None
            alert["detail"] += f"; promoted {best!r} (recent loss {best_loss:.6g} < {champion_loss:.6g})"
            return {"action": "promote", "model": best, "previous": previous, "ts": now}
        return self._skip(alert, f"unknown action {action!r}")

    def _best_challenger(self, champion: str, model_set: Any) -> tuple[str, float, float] | None:
        """The challenger with the lowest recent loss if it beats `champion`'s: (name, its, champion's).

        A challenger needs ``min(recent_window, grace_period)`` recent losses to be ranked.
        """
        champion_recent = self.recent_loss(champion)
        enough = min(self.config.recent_window, self.config.grace_period)
        ranked = sorted(
            (rec[0], name)
            for name, role in model_set.roles.items()
            if role == "challenger" and (rec := self.recent_loss(name)) is not None and rec[1] >= enough
        )
        if not ranked or champion_recent is None or ranked[0][0] >= champion_recent[0]:
            return None
        return ranked[0][1], ranked[0][0], champion_recent[0]

    @property
    def promotion_pending(self) -> bool:
        """Whether a promotion waits for a challenger to overtake (see `follow_up`)."""
        return self._pending is not None

    def follow_up(self, model_set: Any, now_ms: int) -> tuple[list[Alert], list[dict[str, Any]]]:
        """Re-rank a pending promotion after one more label; return the (alerts, actions) done.

        A loss-drift alert usually fires a few dozen labels after the change, while the
        challengers' recent losses still mostly predate it, so the first ranking can fail even
        though a challenger adapts quickly. The promotion then stays pending for
        ``recent_window`` labels; if a challenger overtakes the champion in that time it is
        promoted and a follow-up alert (same model and kind, action ``promote``) says so.
        """
        if self._pending is None:
            return [], []
        first, left = self._pending
        if left <= 0 or model_set.roles.get(first["model"]) != "champion":
            self._pending = None
            return [], []
        self._pending = (first, left - 1)
        if self._best_challenger(first["model"], model_set) is None:
            return [], []
        waited = self.config.recent_window - left + 1
        alert = {**first, "ts": self._stamp(first["model"], first["kind"], now_ms),
                 "detail": f"{first['detail']} at {first['ts']}; re-ranked {waited} labels later"}
        done = self.apply(alert, model_set)
        return [alert], ([done] if done is not None else [])

    @staticmethod
    def _skip(alert: Alert, why: str) -> None:
        alert["action"] = "none"
        alert["detail"] += f"; no action: {why}"


#: River's `drift.ADWIN` default `clock`
ADWIN_CLOCK = 32


def _feed(detector: drift.ADWIN, value: float) -> tuple[float, int]:
    """``detector.update(value)``; returns ``detector.estimation`` (the window mean) and
    ``detector.width`` from before it.

    Runs for every model on every label. For River's `drift.ADWIN` itself this is its ``update``
    inlined (reset after a detection, then the Cython helper's update), the mean read from the
    helper: the same operations without four Python calls (`tests/learners/test_drift.py`
    checks it against ``ADWIN.update`` on streams with drifts).
    """
    if type(detector) is drift.ADWIN:
        helper = detector._helper
        width = helper.get_width()
        before = helper.get_total() / width if width else 0.0
        if detector._drift_detected:
            detector._reset()
            helper = detector._helper
        detector._drift_detected = helper.update(value)
        return before, width
    before, width = detector.estimation, detector.width
    detector.update(value)
    return before, width


def _level_before(mean: float, width: int, value: float, detector: drift.ADWIN) -> float:
    """The mean of what a detection cut off (the level before the change): the window before
    the update (`mean` over `width`) plus `value`, less what the detector kept."""
    dropped = width + 1 - detector.width
    if dropped <= 0:
        return mean
    return (mean * width + value - detector.estimation * detector.width) / dropped
