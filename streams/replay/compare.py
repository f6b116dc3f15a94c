"""Back-testing: compare two runs' predictions on the events both scored, with confidence intervals.

For each run, one model's predictions (default: the run's champion as served, event by event,
also across a promotion during the run) are joined with the labels;
on the events labelled in both runs, the task's metrics (`TASK_METRICS`: binary accuracy at
`threshold`, log loss and ROC AUC; multiclass accuracy of the predicted class; regression and
recommendation MAE and RMSE; anomaly ROC AUC) are computed overall and per segment value, and the
difference (run B - run A) gets a confidence interval:

- ROC AUC: DeLong's method for two correlated AUCs (paired: both scores of the same events),
  the fast midrank version of Sun & Xu (`streams.replay.delong`), with a two-sided p-value;
- the others: a paired, seeded bootstrap percentile interval (the same resampled events for both
  runs; same inputs and seed, same intervals).

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); a = np.array([0.1, 0.4, 0.35, 0.8])
>>> float(roc_auc(y, a)), float(accuracy(y, a, 0.5)), round(float(log_loss(y, a)), 4)
(0.75, 0.75, 0.4723)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analytics.sqltext import literal
from eddy.errors import EddyError
from learners.predict import normalize_label
from streams.exceptions import ReplayError
from streams.manifest import load_manifest
from streams.replay.delong import delong

_EPS = 1e-15


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    return float(np.mean((p >= threshold) == (y > 0)))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(np.where(y > 0, np.log(q), np.log(1 - q))))


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties; NaN when one class is absent."""
    pos = y > 0
    n1 = int(pos.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sp = p[order]
    # average ranks of ties
    _, first, counts = np.unique(sp, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


METRICS = {"accuracy": accuracy, "log_loss": log_loss, "roc_auc": roc_auc, "mae": mae, "rmse": rmse}
#: What a back-test compares, by task (what `ModelMetrics` and the analytics views report):
#: multiclass accuracy is of the predicted class (`labelled` gives the hits), anomaly ROC AUC of
#: the score against ``label != 0``.
TASK_METRICS = {"binary": ("accuracy", "log_loss", "roc_auc"), "anomaly": ("roc_auc",), "multiclass": ("accuracy",),
                "regression": ("mae", "rmse"), "recommendation": ("mae", "rmse")}


@dataclass(frozen=True)
class MetricDiff:
    """One table row: a metric of runs A and B on one slice, B - A and its CI."""

    segment: str
    value: str
    n: int
    metric: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    method: str = "bootstrap"  # how [low, high] was computed: "bootstrap" or "delong"
    p_value: float = float("nan")  # DeLong's two-sided p-value of "equal AUCs" (bootstrap rows: nan)


def _metric(name: str, y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    return accuracy(y, p, threshold) if name == "accuracy" else METRICS[name](y, p)


def compare_arrays(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, *, segment: str = "all", value: str = "",
                   threshold: float = 0.5, n_boot: int = 500, seed: int = 42, level: float = 0.95,
                   metrics: tuple[str, ...] = TASK_METRICS["binary"]) -> list[MetricDiff]:
    """Differences B - A of `metrics`: DeLong for ROC AUC, a paired percentile bootstrap for the
    others (seeded: same inputs, same CIs)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    out = []
    booted = [m for m in metrics if m != "roc_auc"]
    boots = {m: np.empty(n_boot) for m in booted}
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        yb, ab, bb = y[idx], pa[idx], pb[idx]
        for m in booted:
            boots[m][b] = _metric(m, yb, bb, threshold) - _metric(m, yb, ab, threshold)
    alpha = (1 - level) / 2
    for m in metrics:
        va, vb = _metric(m, y, pa, threshold), _metric(m, y, pb, threshold)
        if m == "roc_auc":
            d = delong(y, pa, pb, level)
            out.append(MetricDiff(segment, value, n, m, va, vb, vb - va, d.low, d.high, "delong", d.p_value))
            continue
        finite = boots[m][np.isfinite(boots[m])]
        lo, hi = (np.quantile(finite, [alpha, 1 - alpha]) if len(finite) else (float("nan"), float("nan")))
        out.append(MetricDiff(segment, value, n, m, va, vb, vb - va, float(lo), float(hi)))
    return out


def champion_of(backend: Any, db: str, run_id: str) -> str:
    """Who served the run's events as champion: the model's name, or ``champion as served (a n,
    b m)`` when a promotion changed it during the run (`labelled` with no model follows it)."""
    rows = backend.query(f"SELECT model, count() AS n FROM {db}.predictions FINAL WHERE run_id = {literal(run_id)} "
                         f"AND role = 'champion' GROUP BY model ORDER BY n DESC, model")
    if not rows:
        raise ReplayError(f"run {run_id!r} has no champion predictions in {db}.predictions; check the run id (`eddy runs ls`)")
    if len(rows) == 1:
        return rows[0]["model"]
    return "champion as served (" + ", ".join(f"{r['model']} {int(r['n'])}" for r in rows) + ")"


def labelled(backend: Any, db: str, run_id: str, model: str | None, label_pipeline: str,
             task: str = "binary") -> dict[str, tuple[float, float, dict]]:
    """``event_id -> (prediction, label, segments)`` of one model of a run, labelled events only.

    `model` None: the champion's prediction of each event, whichever model was champion when it
    was served (what the run's consumers got; a promotion during the run changes the model).
    Multiclass: the prediction is 1.0 when the predicted class is the label's, as the learner
    names it (`normalize_label`), else 0.0."""
    which = f"model = {literal(model)}" if model is not None else "role = 'champion'"
    rows = backend.query(
        f"SELECT p.event_id AS event_id, p.prediction AS prediction, p.predicted_label AS predicted_label, "
        f"p.segments AS segments, l.label AS label "
        f"FROM (SELECT event_id, argMin(prediction, served_ts) AS prediction, "
        f"argMin(predicted_label, served_ts) AS predicted_label, argMin(segments, served_ts) AS segments "
        f"FROM {db}.predictions FINAL WHERE run_id = {literal(run_id)} AND {which} GROUP BY event_id) AS p "
        f"INNER JOIN (SELECT event_id, label FROM {db}.labels FINAL "
        f"WHERE pipeline = {literal(label_pipeline)}) AS l ON p.event_id = l.event_id")
    if task == "multiclass":
        return {r["event_id"]: (float(r.get("predicted_label") == normalize_label(task, float(r["label"]))), 1.0,
                                r.get("segments") or {}) for r in rows}
    return {r["event_id"]: (float(r["prediction"]), float(r["label"]), r.get("segments") or {}) for r in rows}


def compare_runs(backend: Any, db: str, run_a: str, run_b: str, *, label_pipeline: str, model_a: str | None = None,
                 model_b: str | None = None, threshold: float = 0.5, n_boot: int = 500, seed: int = 42,
                 min_segment: int = 30, task: str = "binary") -> tuple[list[MetricDiff], dict[str, Any]]:
    """Overall and per-segment differences of run B vs run A in the `task`'s metrics
    (`TASK_METRICS`; see the module doc)."""
    metrics = TASK_METRICS[task]
    a = labelled(backend, db, run_a, model_a, label_pipeline, task)
    b = labelled(backend, db, run_b, model_b, label_pipeline, task)
    ids = sorted(set(a) & set(b))
    info = {"model_a": model_a or champion_of(backend, db, run_a), "model_b": model_b or champion_of(backend, db, run_b),
            "task": task, "metrics": list(metrics), "events": len(ids), "only_a": len(set(a) - set(b)),
            "only_b": len(set(b) - set(a))}
    if not ids:
        return [], info
    y = np.array([a[i][1] for i in ids])
    pa = np.array([a[i][0] for i in ids])
    pb = np.array([b[i][0] for i in ids])
    rows = compare_arrays(y, pa, pb, threshold=threshold, n_boot=n_boot, seed=seed, metrics=metrics)
    segs: dict[tuple[str, str], list[int]] = {}
    for k, i in enumerate(ids):
        for field, value in sorted(a[i][2].items()):
            segs.setdefault((field, value), []).append(k)
    for (field, value), idx in sorted(segs.items()):
        if len(idx) < min_segment:
            continue
        ix = np.array(idx)
        rows.extend(compare_arrays(y[ix], pa[ix], pb[ix], segment=field, value=value, threshold=threshold,
                                   n_boot=n_boot, seed=seed, metrics=metrics))
    return rows, info


def reference_of(backend: Any, db: str, run_a: str, run_b: str) -> tuple[str, float, str]:
    """Whose labels to join (the pipeline whose topics run A read), the decision threshold and the
    task: from run A's manifest (else run B's), else the pipeline of A's predictions, 0.5, binary."""
    for run in (run_a, run_b):
        try:
            m = load_manifest(backend, db, run)
        except EddyError:
            continue
        models = m.config().models
        return m.inputs.get("pipeline", m.pipeline), models.threshold, models.task
    rows = backend.query(f"SELECT any(pipeline) AS p FROM {db}.predictions WHERE run_id = {literal(run_a)}")
    if not rows or not rows[0]["p"]:
        raise EddyError(f"run {run_a!r} has neither a manifest nor predictions; list runs with `eddy runs ls`")
    return rows[0]["p"], 0.5, "binary"


def comparison(backend: Any, db: str, run_a: str, run_b: str, *, n_boot: int = 500, seed: int = 42,
               min_segment: int = 30, model_a: str | None = None, model_b: str | None = None) -> dict[str, Any]:
    """`compare_runs` of B vs A as plain data: the ``comparison`` section of `analytics.report`."""
    label_pipeline, threshold, task = reference_of(backend, db, run_a, run_b)
    rows, info = compare_runs(backend, db, run_a, run_b, label_pipeline=label_pipeline, model_a=model_a,
                              model_b=model_b, threshold=threshold, n_boot=n_boot, seed=seed,
                              min_segment=min_segment, task=task)
    return {"run_a": run_a, "run_b": run_b, **info, "n_boot": n_boot, "seed": seed, "threshold": threshold,
            "rows": [asdict(r) for r in rows]}
