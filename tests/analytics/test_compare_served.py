"""`eddy compare` against production: side A is what the run's consumers were served, event by
event. A promotion during the run (a drift `promote`, `eddy models promote`) changes which model
that is; taking one model for the whole run scored events it only shadowed."""

from __future__ import annotations

import random

import numpy as np
import pytest

from streams.replay.compare import accuracy, compare_runs


def row(run: str, model: str, role: str, i: int, p: float) -> dict:
    return {"run_id": run, "pipeline": "cmp", "model": model, "model_version": 1, "role": role,
            "shadow": role != "champion", "event_id": f"e{i:04d}", "key": "k", "event_ts": 1_700_000_000_000 + i,
            "served_ts": 1_700_000_000_000 + i, "latency_ms": 0.0, "prediction": p, "predicted_label": None,
            "features": {}, "segments": {}, "late": False, "degraded": False}


def test_side_a_is_the_champion_as_served_across_a_promotion(chdb_backend, fresh_db):
    rng = random.Random(0)
    n, promoted_at = 400, 150
    ys = [rng.random() < 0.5 for _ in range(n)]
    preds, labels = [], []
    for i, y in enumerate(ys):
        good, bad = (0.9 if y else 0.1), (0.4 if y else 0.6)
        old_role, new_role = ("champion", "challenger") if i < promoted_at else ("challenger", "champion")
        preds += [row("cmp-live", "old", old_role, i, good), row("cmp-live", "new", new_role, i, bad),
                  row("bt", "cand", "champion", i, good)]
        labels.append({"pipeline": "cmp", "event_id": f"e{i:04d}", "label": float(y),
                       "label_ts": 1_700_000_000_000 + i + 10, "source": None})
    chdb_backend.insert(f"{fresh_db}.predictions", preds)
    chdb_backend.insert(f"{fresh_db}.labels", labels)
    rows, info = compare_runs(chdb_backend, fresh_db, "cmp-live", "bt", label_pipeline="cmp", n_boot=50)
    overall = {r.metric: r for r in rows if r.segment == "all"}
    served = np.array([0.9 if y else 0.1 for y in ys[:promoted_at]] + [0.4 if y else 0.6 for y in ys[promoted_at:]])
    assert overall["accuracy"].a == pytest.approx(accuracy(np.array(ys, dtype=float), served)) == promoted_at / n
    assert overall["accuracy"].b == 1.0 and info["events"] == n
    assert info["model_a"] == "champion as served (new 250, old 150)" and info["model_b"] == "cand"
    # a model named explicitly is that model on every event
    rows, info = compare_runs(chdb_backend, fresh_db, "cmp-live", "bt", label_pipeline="cmp", model_a="old", n_boot=50)
    assert {r.metric: r for r in rows if r.segment == "all"}["accuracy"].a == 1.0 and info["model_a"] == "old"


def test_a_backtest_compares_the_tasks_own_metrics(chdb_backend, fresh_db):
    """Regression runs are compared by MAE and RMSE, multiclass runs by the accuracy of the
    predicted class (the label's class as the learner names it), not by accuracy, log loss and
    ROC AUC of `label > 0` (an audit: a multiclass replay read 'significantly worse' while its
    class accuracy was 0.761 against 0.693)."""
    preds, labels = [], []
    for i in range(300):
        y = float(i % 3)
        reg_a, reg_b = row("reg-a", "lin", "champion", i, y * 10 + 5), row("reg-b", "lin", "champion", i, y * 10 + 1)
        right, wrong = row("mc-a", "tree", "champion", 1000 + i, 0.4), row("mc-b", "tree", "champion", 1000 + i, 0.9)
        right["predicted_label"], wrong["predicted_label"] = str(int(y)), str(int(y + 1) % 3)
        preds += [reg_a, reg_b, right, wrong]
        labels += [{"pipeline": "cmp", "event_id": f"e{i:04d}", "label": y * 10, "label_ts": 1, "source": None},
                   {"pipeline": "cmp", "event_id": f"e{1000 + i:04d}", "label": y, "label_ts": 1, "source": None}]
    chdb_backend.insert(f"{fresh_db}.predictions", preds)
    chdb_backend.insert(f"{fresh_db}.labels", labels)
    rows, info = compare_runs(chdb_backend, fresh_db, "reg-a", "reg-b", label_pipeline="cmp", task="regression", n_boot=50)
    overall = {r.metric: r for r in rows if r.segment == "all"}
    assert set(overall) == {"mae", "rmse"} and info["metrics"] == ["mae", "rmse"]
    assert overall["mae"].a == pytest.approx(5.0) and overall["mae"].b == pytest.approx(1.0)
    assert overall["mae"].high < 0  # B is better: its error is lower, the whole interval below 0
    rows, _ = compare_runs(chdb_backend, fresh_db, "mc-a", "mc-b", label_pipeline="cmp", task="multiclass", n_boot=50)
    overall = {r.metric: r for r in rows if r.segment == "all"}
    assert set(overall) == {"accuracy"} and (overall["accuracy"].a, overall["accuracy"].b) == (1.0, 0.0)
