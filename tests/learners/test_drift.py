"""Drift: an injected concept drift raises an alert; the promote action makes the challenger
champion (in the ModelSet and, through the registry, in every scorer); reset; cooldown."""

from __future__ import annotations

import json
import pickle

import pytest

from learners import (
    DriftConfig,
    DriftMonitor,
    JoinConfig,
    Learner,
    ModelRegistry,
    ModelsConfig,
    ModelSet,
    refresh,
    save_checkpoint,
)

from .streams import make_stream

FLIP_AT = 1000


def drifting_config(action: str) -> ModelsConfig:
    return ModelsConfig(
        task="binary",
        champion={"name": "slow", "model": "logreg", "params": {"lr": 0.002}},
        challengers=[{"name": "fast", "model": "logreg", "params": {"lr": 0.3}}],
        drift={"action": action},
    )


def champion_a_challenger_b(**drift) -> tuple[ModelSet, DriftMonitor]:
    """Two logistic regressions, champion 'a' and challenger 'b', and a monitor with `drift`."""
    config = ModelsConfig(task="binary", champion={"name": "a", "model": "logreg"},
                          challengers=[{"name": "b", "model": "logreg"}], drift=drift)
    return ModelSet(config), DriftMonitor(config.drift)


def run_with_flip(config: ModelsConfig, n: int = 2000, on_outcome=None,
                  restart_at: int | None = None) -> tuple[Learner, list, list]:
    """Score and learn a stream whose labels flip after FLIP_AT events; with `restart_at`, the
    learner restarts before that event from what a checkpoint holds (the models' pickles, the
    roles and its meta as JSON)."""
    model_set = ModelSet(config)
    learner = Learner(model_set, JoinConfig(), drift=DriftMonitor(config.drift))
    alerts, actions = [], []
    for i, (x, y) in enumerate(make_stream("binary", n, seed=11)):
        if i == restart_at:
            models = {name: pickle.loads(pickle.dumps(model)) for name, model in model_set.models.items()}
            roles, meta = dict(model_set.roles), json.loads(learner.state_json())
            model_set = ModelSet(config)
            for name, model in models.items():
                model_set.swap(name, model, 1)
            model_set.set_roles(roles)
            learner = Learner(model_set, JoinConfig(), drift=DriftMonitor(config.drift))
            learner.load_state(meta)
        if i >= FLIP_AT:
            y = 1.0 - y
        served = model_set.predict_full(x)
        outcome = learner.learn({"event_id": f"e{i}", "label": y, "ts": i}, {"x": x, "predictions": served}, now_ms=i)
        alerts += outcome.alerts
        actions += outcome.actions
        if on_outcome is not None:
            on_outcome(outcome)
    return learner, alerts, actions


def test_concept_drift_raises_an_alert_and_promotes_the_challenger():
    learner, alerts, actions = run_with_flip(drifting_config("promote"))
    acted = [a for a in alerts if a["action"] != "none"]
    assert all(a["ts"] >= FLIP_AT for a in acted)
    assert [(a["model"], a["kind"], a["action"]) for a in acted] == [("slow", "loss_drift", "promote")]
    alert = acted[0]
    assert FLIP_AT <= alert["ts"] < FLIP_AT + 200 and "rose" in alert["detail"] and "promoted 'fast'" in alert["detail"]
    assert set(alert) == {"model", "kind", "ts", "value", "action", "detail"}
    assert actions == [{"action": "promote", "model": "fast", "previous": "slow", "ts": alert["ts"]}]
    assert learner.model_set.champion_name == "fast"
    assert learner.model_set.roles["slow"] == "challenger"


def test_without_drift_no_action_fires():
    config = drifting_config("promote")
    model_set = ModelSet(config)
    learner = Learner(model_set, JoinConfig(), drift=DriftMonitor(config.drift))
    for i, (x, y) in enumerate(make_stream("binary", FLIP_AT, seed=11)):
        outcome = learner.learn({"event_id": f"e{i}", "label": y}, {"x": x, "predictions": model_set.predict_full(x)}, now_ms=i)
        assert outcome.actions == []
    assert model_set.champion_name == "slow"


def test_action_none_only_alerts():
    learner, alerts, actions = run_with_flip(drifting_config("none"))
    assert any(a["model"] == "slow" and a["kind"] == "loss_drift" and a["ts"] >= FLIP_AT for a in alerts)
    assert actions == [] and learner.model_set.champion_name == "slow"


def test_reset_action_rebuilds_the_drifting_model():
    config = drifting_config("reset")
    resets = []
    learner, _, actions = run_with_flip(config, n=1300, on_outcome=lambda o: resets.extend(a for a in o.actions))
    assert actions and all(a["action"] == "reset" for a in actions)
    assert {a["model"] for a in actions} >= {"slow"}
    assert learner.model_set.champion_name == "slow"
    # the reset champion restarted its metrics at the reset
    first = next(a for a in actions if a["model"] == "slow")
    assert learner.model_set.metrics()["slow"]["n"] < 1300 - first["ts"] + 1


def test_promote_needs_a_better_challenger_and_respects_the_cooldown():
    model_set, mon = champion_a_challenger_b(action="promote", cooldown="1s")
    for i in range(50):
        mon.update("a", 0.5, None, i)
        mon.update("b", 0.7, None, i)
    alert = {"model": "a", "kind": "loss_drift", "ts": 100, "value": 1.0, "action": "promote", "detail": "x"}
    assert mon.apply(alert, model_set) is None and alert["action"] == "none"
    assert "no challenger" in alert["detail"]
    for i in range(200):
        mon.update("b", 0.1, None, i)
    alert = {"model": "a", "kind": "loss_drift", "ts": 200, "value": 1.0, "action": "promote", "detail": "x"}
    assert mon.apply(alert, model_set)["model"] == "b" and model_set.champion_name == "b"
    alert = {"model": "b", "kind": "loss_drift", "ts": 500, "value": 1.0, "action": "reset", "detail": "x"}
    assert mon.apply(alert, model_set) is None and "cooldown" in alert["detail"]
    alert = {"model": "b", "kind": "loss_drift", "ts": 5000, "value": 1.0, "action": "promote", "detail": "x"}
    assert mon.apply(alert, model_set) is None  # 'a' is not better: stays


def test_prediction_drift_is_detected():
    mon = DriftMonitor(DriftConfig(prediction_delta=0.002))
    alerts = [a for i in range(600) for a in mon.update("m", None, 0.1 if i < 300 else 0.9, i)]
    assert alerts and alerts[0]["kind"] == "prediction_drift" and alerts[0]["ts"] >= 300
    assert alerts[0]["action"] == "none"  # act_on defaults to loss_drift only
    assert DriftMonitor(DriftConfig(prediction_detector="none")).update("m", None, 0.9, 0) == []
    assert DriftMonitor(DriftConfig(enabled=False)).update("m", 5.0, 0.9, 0) == []


@pytest.mark.integration
def test_promotion_reaches_scorers_through_the_registry(redis_client, namespace):
    config = drifting_config("promote")
    registry = ModelRegistry(redis_client, namespace)
    scorer = ModelSet(config)
    registry.set_roles(scorer.roles)  # what `restore` does when a learner starts

    def on_outcome(outcome):
        for action in outcome.actions:
            if action["action"] == "promote":
                registry.promote(action["model"], now_ms=action["ts"])

    learner, _, _ = run_with_flip(config, on_outcome=on_outcome)
    save_checkpoint(registry, learner.model_set, learner.state(), now_ms=FLIP_AT * 3)
    refresh(registry, scorer)
    assert scorer.champion_name == "fast" == learner.model_set.champion_name
    events = registry.drain_events()
    assert ("fast", "promote") in {(e["model"], e["action"]) for e in events}
    assert ("slow", "demote") in {(e["model"], e["action"]) for e in events}


def test_a_challenger_with_too_few_recent_losses_is_not_promoted():
    model_set, mon = champion_a_challenger_b(action="promote", grace_period=30)
    for i in range(100):
        mon.update("a", 0.9, None, i)
    for i in range(5):
        mon.update("b", 0.01, None, i)
    alert = {"model": "a", "kind": "loss_drift", "ts": 100, "value": 1.0, "action": "promote", "detail": "x"}
    assert mon.apply(alert, model_set) is None and model_set.champion_name == "a"


def test_a_promotion_that_finds_no_better_challenger_yet_stays_pending_for_recent_window_labels():
    """The alert fires while the challenger's recent window still holds pre-change losses; it
    overtakes the champion a few labels later and is promoted then, by a follow-up alert."""
    model_set, mon = champion_a_challenger_b(action="promote", recent_window=20, grace_period=10)
    for i in range(20):
        mon.update("a", 0.2, None, i)
        mon.update("b", 0.1, None, i)
    # the change: both suffer, the challenger less; the champion's detector fires now
    for i in range(20, 30):
        mon.update("a", 1.0, None, i)
        mon.update("b", 2.0, None, i)
    alert = {"model": "a", "kind": "loss_drift", "ts": 30, "value": 1.0, "action": "promote", "detail": "rose"}
    assert mon.apply(alert, model_set) is None and "re-ranked" in alert["detail"]
    assert mon.follow_up(model_set, 31) == ([], [])  # b still worse over its recent window
    follow = []
    for i in range(32, 60):
        mon.update("a", 1.0, None, i)
        mon.update("b", 0.1, None, i)  # b adapted
        follow.append(mon.follow_up(model_set, i))
    done = [(alerts, actions) for alerts, actions in follow if alerts]
    assert len(done) == 1  # promoted once, then nothing is pending any more
    [alert], [action] = done[0]
    assert action == {"action": "promote", "model": "b", "previous": "a", "ts": alert["ts"]}
    assert alert["action"] == "promote" and "rose" in alert["detail"] and "promoted 'b'" in alert["detail"]
    assert model_set.champion_name == "b"


class _FakeAlertAt(DriftMonitor):
    """A fake monitor: the real one, plus a champion loss-drift alert raised on one chosen label."""

    def __init__(self, config, at_ms: int) -> None:  # noqa: ANN001
        super().__init__(config)
        self.at_ms = at_ms

    def update(self, model, loss, prediction, now_ms):  # noqa: ANN001
        alerts = super().update(model, loss, prediction, now_ms)
        if model == "a" and now_ms == self.at_ms:
            alerts.append({"model": "a", "kind": "loss_drift", "ts": now_ms, "value": 1.0, "action": "promote",
                           "detail": "rose"})
        return alerts


@pytest.mark.parametrize("overtakes", [False, True])
def test_a_learner_re_ranks_a_pending_promotion_on_the_next_recent_window_labels(overtakes):
    """Through `Learner`: the label whose alert leaves the promotion pending is not one of the
    `recent_window` re-rankings (it was, and a challenger overtaking on the last one was lost)."""
    model_set, _ = champion_a_challenger_b(action="promote", recent_window=5, grace_period=1)
    learner = Learner(model_set, drift=_FakeAlertAt(model_set.config.drift, at_ms=10))
    label = {"label": 1.0}

    def learn(i: int, p_b: float) -> list:
        snap = {"x": {"f": 1.0}, "predictions": {"a": 0.6, "b": p_b}}
        return learner.learn({**label, "event_id": f"e{i}", "ts": i}, snap, now_ms=i).alerts

    for i in range(11):  # b a bit worse all along; the alert on label 10 finds no better challenger
        learn(i, 0.55)
    assert learner.drift.promotion_pending
    for i in range(11, 15):  # four later labels: still pending
        assert learn(i, 0.55) == [] and learner.drift.promotion_pending
    alerts = learn(15, 0.999999 if overtakes else 0.55)  # the fifth: b's recent mean drops below a's
    if overtakes:
        [alert] = alerts
        assert alert["detail"].startswith("rose at 10; re-ranked 5 labels later; promoted 'b'")
        assert model_set.champion_name == "b"
    else:
        assert alerts == [] and model_set.champion_name == "a"
        learn(16, 0.999999)  # too late now
        assert model_set.champion_name == "a" and not learner.drift.promotion_pending


def test_a_pending_promotion_expires_after_recent_window_labels():
    model_set, mon = champion_a_challenger_b(action="promote", recent_window=5, grace_period=5)
    for i in range(5):
        mon.update("a", 0.5, None, i)
        mon.update("b", 0.9, None, i)
    mon.apply({"model": "a", "kind": "loss_drift", "ts": 5, "value": 1.0, "action": "promote", "detail": "x"}, model_set)
    for i in range(5):
        assert mon.follow_up(model_set, 6 + i) == ([], [])
    for i in range(5):
        mon.update("b", 0.0, None, 20 + i)  # too late: the pending promotion has expired
    assert mon.follow_up(model_set, 30) == ([], []) and model_set.champion_name == "a"


def test_feed_is_adwin_update() -> None:
    """`_feed` inlines River's ADWIN.update: same detections, windows and means on drifting streams."""
    import random

    from river import drift as river_drift

    from learners.drift import _feed

    rng = random.Random(3)
    for delta, grace in ((0.002, 10), (0.05, 5)):
        stream = [rng.gauss(0.0 if (i // 300) % 2 else 3.0, 1.0) for i in range(2000)]
        mine, ref = river_drift.ADWIN(delta=delta, grace_period=grace), river_drift.ADWIN(delta=delta, grace_period=grace)
        detections = 0
        for x in stream:
            before = (ref.estimation, ref.width)
            ref.update(x)
            assert _feed(mine, x) == before
            assert mine.drift_detected == ref.drift_detected
            assert (mine.width, mine.total, mine.variance, mine.estimation) == (ref.width, ref.total, ref.variance, ref.estimation)
            detections += ref.drift_detected
        assert detections >= 3


@pytest.mark.parametrize("action", ["promote", "reset", "none"])
@pytest.mark.parametrize("restart_at", [FLIP_AT - 400, FLIP_AT + 20, FLIP_AT + 45, FLIP_AT + 300])
def test_a_restarted_learner_alerts_as_one_that_never_stopped(action, restart_at):
    """The detectors, recent losses, cooldown and a pending promotion ride with the checkpoint:
    a learner restored from `state()` (and the models) raises the same alerts, acts the same."""
    config = drifting_config(action)
    never_stopped, expected, expected_actions = run_with_flip(config)
    restarted, alerts, actions = run_with_flip(config, restart_at=restart_at)
    assert expected and alerts == expected and actions == expected_actions
    assert restarted.model_set.metrics() == never_stopped.model_set.metrics()


def test_alerts_of_one_model_and_kind_never_share_a_time():
    """A batch of labels shares one clock reading; the alerts table keeps one row per model, kind
    and ts, so a second alert of the same model and kind is stamped a millisecond later."""
    mon = DriftMonitor(DriftConfig(grace_period=10, delta=0.5))
    alerts = [a for i in range(600) for a in mon.update("m", 0.1 if (i // 60) % 2 else 3.0, None, 7)]
    assert len(alerts) > 2
    stamps = [(a["model"], a["kind"], a["ts"]) for a in alerts]
    assert len(set(stamps)) == len(stamps) and [a["ts"] for a in alerts] == list(range(7, 7 + len(alerts)))


def test_a_follow_up_promotion_in_the_batch_of_its_first_alert_gets_a_time_of_its_own():
    """The pending alert and the follow-up that promotes are two rows of the alerts table."""
    model_set, mon = champion_a_challenger_b(action="promote", recent_window=20, grace_period=10)
    for i in range(20):
        mon.update("a", 0.2, None, 7)
        mon.update("b", 0.1, None, 7)
    first = mon._alert("a", "loss_drift", 7, 1.0, True, "rose")
    for i in range(20):
        mon.update("b", 2.0, None, 7)  # the challenger is worse when the alert fires
    assert mon.apply(first, model_set) is None and mon.promotion_pending
    follow = []
    for i in range(30):
        mon.update("a", 1.0, None, 7)
        mon.update("b", 0.0, None, 7)
        follow += mon.follow_up(model_set, 7)[0]  # one clock reading for the whole batch
    assert [a["action"] for a in follow] == ["promote"]
    assert follow[0]["ts"] > first["ts"] == 7


def test_a_rise_right_after_the_loss_fell_is_still_seen() -> None:
    """A loss detector keeps its window after a fall: the loss rising right after an improvement
    is measured against the improved level. (River's ADWIN starts over after any detection; the
    window after the reset then holds only the risen losses, and no rise is ever seen.)"""
    import random

    from river import drift as river_drift

    rng = random.Random(5)
    mon = DriftMonitor(DriftConfig(grace_period=150))
    ref = river_drift.ADWIN(delta=mon.config.delta, grace_period=150)  # River's: starts over
    level, fell_at, rose_at, ref_rose = 1.0, None, None, False
    for i in range(1500):
        if i == 400:
            level = 0.5  # the model improves...
        loss = rng.gauss(level, 0.3)
        before = ref.estimation
        ref.update(loss)
        ref_rose |= ref.drift_detected and ref.estimation > before and fell_at is not None
        for alert in mon.update("m", loss, None, i):
            if "fell" in alert["detail"] and fell_at is None:
                fell_at, level = i, 2.0  # ...and goes bad the moment the fall is detected
            elif "rose" in alert["detail"] and rose_at is None:
                rose_at = i
    assert fell_at is not None and rose_at is not None
    assert fell_at < rose_at < fell_at + 100
    assert not ref_rose  # River's own ADWIN: blind to it


def test_the_cooldown_is_per_model_and_one_for_promotions():
    """A challenger's reset must not hold back the champion's reset (an audit: with a 1 h cooldown
    the champion kept serving the flipped relation); a promotion cools down both models it
    touched, and the next promotion."""
    model_set, mon = champion_a_challenger_b(action="reset", cooldown="1h")

    def alert(model: str, ts: int, action: str = "reset") -> dict:
        return {"model": model, "kind": "loss_drift", "ts": ts, "value": 1.0, "action": action, "detail": "x"}

    assert mon.apply(alert("b", 1_000), model_set)["model"] == "b"
    assert mon.apply(alert("a", 2_000), model_set)["model"] == "a"  # another model: not in b's cooldown
    held = alert("b", 3_000)
    assert mon.apply(held, model_set) is None and "cooldown: last action on 'b' at 1000" in held["detail"]
    for i in range(200):
        mon.update("a", 0.6, None, 10_000 + i)
        mon.update("b", 0.1, None, 10_000 + i)
    far = 2_000 + 3_600_000  # an hour after the last action on the champion
    assert mon.apply(alert("a", far, "promote"), model_set)["model"] == "b"
    for model, action in (("b", "reset"), ("a", "reset"), ("b", "promote")):
        late = alert(model, far + 1, action)
        assert mon.apply(late, model_set) is None and "cooldown" in late["detail"], (model, action)


def test_a_checkpoint_with_one_cooldown_for_all_still_loads():
    model_set, mon = champion_a_challenger_b(action="reset", cooldown="1h")
    state = mon.state()
    state["last_action_ms"] = 5_000  # as checkpoints stored it before cooldowns were per model
    mon.load_state(state, model_set.names)
    held = {"model": "b", "kind": "loss_drift", "ts": 6_000, "value": 1.0, "action": "reset", "detail": "x"}
    assert mon.apply(held, model_set) is None and "cooldown" in held["detail"]


@pytest.mark.parametrize("clock", [1, 32, 100])
def test_clock_is_river_adwins(clock) -> None:
    """`drift.clock` reaches both detectors: on a loss that only rises, the alerts come on the
    labels where River's `ADWIN(clock=...)` detects; a checkpoint of another clock starts clean."""
    import random

    from river import drift as river_drift

    rng = random.Random(5)
    cfg = DriftConfig(clock=clock, grace_period=10, delta=0.01)
    mon, ref = DriftMonitor(cfg), river_drift.ADWIN(delta=0.01, clock=clock, grace_period=10)
    mine, theirs = [], []
    for i in range(1600):
        value = rng.gauss(0.1 + 0.3 * (i // 400), 0.1)
        ref.update(value)
        theirs += [i] if ref.drift_detected else []
        alerts = mon.update("m", value, 0.5, now_ms=i)
        mine += [i] if any(a["kind"] == "loss_drift" for a in alerts) else []
    assert mine == theirs and len(theirs) >= 3
    assert mon._loss_detector("m").clock == clock and mon._pred_detector("m").clock == clock
    other = DriftMonitor(DriftConfig(clock=clock + 1, grace_period=10, delta=0.01))
    other.load_state(mon.state(), ["m"])
    assert other._loss == {}
    same = DriftMonitor(cfg)
    same.load_state(mon.state(), ["m"])
    assert set(same._loss) == {"m"}
