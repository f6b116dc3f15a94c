"""Eddy's scoring + delayed-label path reproduces River's progressive validation exactly.

The loop below is what replay does: labels due at or before an event's time are joined to the
served snapshot (the x dict and predictions the event was scored with) and learned by the
`Learner` before the event is scored by the `ModelSet`. Its champion predictions must equal
``river.evaluate.iter_progressive_val_score(..., delay=d)`` on the same stream.
"""

from __future__ import annotations

from collections import deque

import pytest
from river import evaluate, metrics

from learners import (
    CATALOG,
    JoinConfig,
    Learner,
    LearnRecorder,
    ModelsConfig,
    ModelSet,
    ModelSpec,
    build_model,
    normalize_label,
)

from .streams import make_stream

DELAY = 7


def eddy_loop(config: ModelsConfig, stream, delay: int, recorder: LearnRecorder | None = None):
    """Score events and learn labels due ``delay`` events later, as replay does."""
    model_set = ModelSet(config)
    learner = Learner(model_set, JoinConfig(early_label_wait="1h"), on_learn=recorder)
    store: dict[str, dict] = {}
    due: deque[tuple[int, dict]] = deque()
    served: list = []

    def learn_due(now: int) -> None:
        while due and due[0][0] <= now:
            ts, label = due.popleft()
            outcome = learner.learn(label, store[label["event_id"]], now_ms=ts)
            assert outcome.status == "learned"

    for i, (x, label) in enumerate(stream):
        learn_due(i)
        preds = model_set.predict_full(x)
        served.append(preds[model_set.champion_name])
        event_id = f"e{i}"
        store[event_id] = {"x": dict(x), "predictions": preds}
        due.append((i + delay, {"event_id": event_id, "label": label, "ts": i + delay}))
    learn_due(len(stream) + delay)
    return served, model_set, learner, store


def river_predictions(model, task: str, stream, delay: int) -> list:
    metric = {
        "binary": metrics.LogLoss(),
        "multiclass": metrics.Accuracy(),
        "regression": metrics.MAE(),
        "anomaly": metrics.ROCAUC(),
    }[task]
    dataset = [(x, normalize_label(task, y) if task != "anomaly" else bool(y)) for x, y in stream]
    states = evaluate.iter_progressive_val_score(
        dataset, model, metric, delay=delay, step=1, yield_predictions=True
    )
    return [s["Prediction"] for s in states]


CASES = [
    (name, task)
    for name, entry in CATALOG.items()
    for task in entry.tasks
    if task != "recommendation"
]


@pytest.mark.parametrize(("name", "task"), CASES)
def test_champion_predictions_equal_progressive_val_score(name, task):
    stream = make_stream(task, 600, seed=5)
    config = ModelsConfig(task=task, champion=ModelSpec(name="champ", model=name), seed=42)
    served, _, learner, _ = eddy_loop(config, stream, DELAY)
    expected = river_predictions(build_model(config.champion, task, seed=42), task, stream, DELAY)
    assert len(expected) == len(served) == len(stream)
    assert learner.counts["learned"] == len(stream)
    for mine, theirs in zip(served, expected):
        if task == "binary":
            assert abs(mine.score - theirs.get(True, 0.0)) <= 1e-12
        elif task == "multiclass":
            assert mine.label == (None if theirs is None else str(theirs))
        else:
            assert abs(mine.score - float(theirs)) <= 1e-12


@pytest.mark.parametrize("name", ["funk_mf", "biased_mf"])
def test_recommendation_matches_a_plain_river_loop(name):
    """River's evaluator has no ranker path: compare with the same loop written in plain River."""
    stream = make_stream("recommendation", 500, seed=6)
    config = ModelsConfig(task="recommendation", champion=ModelSpec(name="champ", model=name))
    served, _, _, _ = eddy_loop(config, stream, DELAY)
    model = build_model(config.champion, "recommendation", seed=42)
    expected, pending = [], deque()
    for i, (x, y) in enumerate(stream):
        while pending and pending[0][0] <= i:
            _, xo, yo = pending.popleft()
            model.learn_one(user=xo["user"], item=xo["item"], y=yo, x=xo)
        expected.append(model.predict_one(user=x["user"], item=x["item"], x=x))
        pending.append((i + DELAY, x, y))
    assert [p.score for p in served] == expected


def test_x_learned_is_x_served():
    """For every learned label, the dict each model learned equals the served snapshot's x."""
    stream = make_stream("binary", 300, seed=7)
    recorder = LearnRecorder()
    config = ModelsConfig(
        task="binary",
        champion=ModelSpec(name="lr", model="logreg"),
        challengers=[ModelSpec(name="tree", model="hoeffding_tree"), ModelSpec(name="nb", model="gaussian_nb")],
    )
    _, _, learner, store = eddy_loop(config, stream, DELAY, recorder)
    assert learner.counts["learned"] == len(stream)
    assert [eid for eid, _ in recorder.records] == [f"e{i}" for i in range(len(stream))]
    for (event_id, x), x_copy in zip(recorder.records, recorder.copies):
        served_x = store[event_id]["x"]
        index = int(event_id[1:])
        assert x == served_x == stream[index][0] == x_copy
        assert list(x) == list(stream[index][0])  # same key order: same float summation order


def test_every_model_learns_the_same_x():
    stream = make_stream("binary", 50, seed=8)
    config = ModelsConfig(
        task="binary",
        champion=ModelSpec(name="lr", model="logreg"),
        challengers=[ModelSpec(name="arf", model="arf")],
    )
    model_set = ModelSet(config)
    seen: list[tuple[str, int, object]] = []
    model_set.add_learn_hook(lambda name, x, y: seen.append((name, id(x), y)))
    for x, y in stream:
        model_set.learn_one(x, y)
    assert len(seen) == 3 * len(stream)
    for k in range(len(stream)):
        triple = seen[3 * k : 3 * k + 3]
        assert [t[0] for t in triple] == ["lr", "arf", "baseline"]
        assert len({t[1] for t in triple}) == 1 and triple[0][1] == id(stream[k][0])
        assert len({t[2] for t in triple}) == 1
