"""THE replay test: on River's Phishing stream (event ts = i s, labels at ts + delay), Eddy's replay
serves exactly the predictions of `river.evaluate.iter_progressive_val_score(moment, delay)`.

The River side is plain River code, built independently of Eddy's catalog.
"""

from __future__ import annotations

import pytest
from river import datasets, evaluate, linear_model, metrics, preprocessing, tree

from streams.config import PipelineConfig
from streams.replay import Item, ReplayLoop, merge_inputs
from streams.wiring import memory_processor

PHISHING = list(datasets.Phishing())
FIELDS = list(PHISHING[0][0])  # River's key order: x dicts are built in this order by the engine too

RIVER_MODELS = {
    "logreg": lambda: preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    "hoeffding_tree": lambda: tree.HoeffdingTreeClassifier(),
}


def phishing_config() -> PipelineConfig:
    return PipelineConfig.model_validate({
        "pipeline": "phishing",
        "event": {"schema": "phishing.avsc", "id_field": "event_id", "key_field": "event_id", "time_field": "ts"},
        "features": {"passthrough": [{"name": f, "field": f} for f in FIELDS]},
        "models": {"task": "binary", "champion": {"name": "logreg", "model": "logreg"},
                   "challengers": [{"name": "hoeffding_tree", "model": "hoeffding_tree"}]},
    })


def phishing_inputs(delay_ms: int) -> list[Item]:
    """Events at i s; labels (as doubles, as on the labels topic) at ts + delay."""
    events = [Item("event", i * 1000, 0, i, {"event_id": str(i), "ts": i * 1000, **x}) for i, (x, _) in enumerate(PHISHING)]
    labels = [Item("label", i * 1000 + delay_ms, 0, i, {"event_id": str(i), "label": float(y), "ts": i * 1000 + delay_ms})
              for i, (_, y) in enumerate(PHISHING)]
    return merge_inputs(events, labels)


def eddy_predictions(delay_ms: int) -> dict[str, list[float]]:
    processor = memory_processor(phishing_config(), "phishing-test")
    out: dict[str, dict[str, float]] = {m: {} for m in processor.models.names}

    def collect(records: list[dict]) -> None:
        for r in records:
            out[r["model"]][r["event_id"]] = r["prediction"]

    stats = ReplayLoop(processor, on_scores=collect).run(phishing_inputs(delay_ms))
    assert stats.outcomes["learned"] == len(PHISHING) and stats.outcomes["orphan"] == 0
    return {m: [preds[str(i)] for i in range(len(PHISHING))] for m, preds in out.items()}


def river_predictions(model_name: str, delay_ms: int) -> list[float]:
    """P(True) per event, in event order, from River's own progressive validation."""
    xs = [x for x, _ in PHISHING]
    ts_of = {id(x): i * 1000 for i, x in enumerate(xs)}  # simulate_qa reads the moment off the original dict
    steps = evaluate.iter_progressive_val_score(
        iter(PHISHING), RIVER_MODELS[model_name](), metrics.LogLoss(),
        moment=lambda x: ts_of[id(x)], delay=delay_ms, yield_predictions=True,
    )
    # constant delay: answers are revealed in event order; River skips empty probas ({}): P(True) = 0.0
    preds = [step["Prediction"] for step in steps]
    assert len(preds) == len(PHISHING)
    return [float(p.get(True, 0.0)) if p else 0.0 for p in preds]


@pytest.fixture(scope="module", params=[0, 1000, 5000, 60_000], ids=lambda d: f"delay{d}ms")
def replayed(request):
    return request.param, eddy_predictions(request.param)


@pytest.mark.parametrize("model_name", ["logreg", "hoeffding_tree"])
def test_replay_equals_river_progressive_validation(replayed, model_name):
    delay, ours = replayed
    theirs = river_predictions(model_name, delay)
    diffs = [(i, a, b) for i, (a, b) in enumerate(zip(ours[model_name], theirs)) if abs(a - b) > 1e-12]
    assert not diffs, f"delay {delay} ms, {model_name}: {len(diffs)} differences, first {diffs[:3]}"


def test_delay_changes_predictions():
    """The delay matters (so the equality above is not trivially true)."""
    assert river_predictions("logreg", 0) != river_predictions("logreg", 60_000)
