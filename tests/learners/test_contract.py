"""The contract every catalog model and every baseline must meet, for every task it serves.

Like River's estimator checks: build, predict before any learning, learn without touching the
input, pickle to identical predictions, and reproduce itself exactly from the same seed.
"""

from __future__ import annotations

import copy
import math
import pickle

import pytest

from learners import CATALOG, ModelSpec, baseline_for, build_model, learn, normalize_label, predict

from .streams import make_stream

CASES = [(name, task) for name, entry in CATALOG.items() for task in entry.tasks]
CASES += [("baseline", task) for task in ("binary", "multiclass", "regression", "anomaly", "recommendation")]


def build(name: str, task: str, seed: int = 42):
    if name == "baseline":
        return baseline_for(task)
    return build_model(ModelSpec(name="m", model=name), task, seed=seed)


def run(model, task: str, stream) -> list:
    """Prequential loop: predict then learn, returns the predictions."""
    out = []
    for x, label in stream:
        out.append(predict(task, model, x))
        learn(task, model, x, normalize_label(task, label))
    return out


def check_prediction(task: str, pred) -> None:
    assert isinstance(pred.score, float) and math.isfinite(pred.score), pred
    if task == "multiclass":
        assert pred.label is None or isinstance(pred.label, str)
    else:
        assert pred.label is None
    if task == "binary":
        assert 0.0 <= pred.score <= 1.0


def test_every_catalog_model_is_covered():
    assert {name for name, _ in CASES} == set(CATALOG) | {"baseline"}


@pytest.mark.parametrize(("name", "task"), CASES)
def test_predicts_before_learning(name, task):
    model = build(name, task)
    x, _ = make_stream(task, 1)[0]
    check_prediction(task, predict(task, model, x))


@pytest.mark.parametrize(("name", "task"), CASES)
def test_learns_without_mutating_the_input(name, task):
    model = build(name, task)
    stream = make_stream(task, 300)
    for x, label in stream:
        before = copy.deepcopy(x)
        check_prediction(task, predict(task, model, x))
        learn(task, model, x, normalize_label(task, label))
        assert x == before and list(x) == list(before)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_pickle_round_trip_gives_identical_predictions(name, task):
    stream = make_stream(task, 400, seed=1)
    model = build(name, task)
    run(model, task, stream[:250])
    clone = pickle.loads(pickle.dumps(model))
    assert run(model, task, stream[250:]) == run(clone, task, stream[250:])


@pytest.mark.parametrize(("name", "task"), CASES)
def test_same_seed_same_predictions(name, task):
    stream = make_stream(task, 300, seed=2)
    assert run(build(name, task), task, stream) == run(build(name, task), task, stream)


@pytest.mark.parametrize(("name", "task"), [c for c in CASES if c != ("baseline", "anomaly")])
def test_learning_changes_predictions(name, task):
    """A model that learns nothing would pass every other check (the anomaly baseline is a
    constant by design)."""
    stream = make_stream(task, 400, seed=3)
    preds = run(build(name, task), task, stream)
    assert len({p for p in preds}) > 1
