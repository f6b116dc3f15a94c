"""``build_report``: one self-contained HTML page of plots and the tables behind them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from analytics import metrics as M
from analytics.backends.base import Backend
from analytics.report.html import details, page, table
from analytics.report.svg import bar_chart, empty_chart, heatmap, interval_chart, line_chart, time_label, timeline

_NICE_MS = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000,
            12 * 3_600_000, 86_400_000, 7 * 86_400_000]


def nice_bucket_ms(span_ms: int, target: int = 12) -> int:
    """The smallest round bucket width giving at most ~``target`` buckets over ``span_ms``.

    >>> nice_bucket_ms(8 * 3_600_000)
    3600000
    """
    for b in _NICE_MS:
        if span_ms / b <= target:
            return b
    return _NICE_MS[-1]


#: Tasks whose prediction is a probability of a 0/1 label (or a score of one, e.g. clicks): the
#: rates, log loss, ROC AUC, calibration and per-segment rates apply.
PROBABILITY_TASKS = frozenset({"binary", "recommendation", "anomaly"})


def _series_name(row: dict[str, Any], multi_run: bool) -> str:
    return f"{row['run_id']}/{row['model']}" if multi_run else str(row["model"])


def build_report(backend: Backend, db: str = "eddy", *, out_path: str | Path,
                 run_id: str | None = None, pipeline: str | None = None,
                 threshold: float = 0.5, segments: Sequence[str] = (),
                 bucket_ms: int | None = None, window_ms: int | None = None,
                 psi_threshold: float = 0.2, generated_ms: int | None = None,
                 comparison: Mapping[str, Any] | None = None, task: str = "binary") -> Path:
    """Write the report for ``pipeline``/``run_id`` (None = all) to ``out_path``; return it.

    Plots: metrics over time per model, per-segment bars with disparity, a PSI heatmap
    (feature x window), calibration curves, the alerts timeline; each with its table.
    ``bucket_ms``/``window_ms`` default to a round width giving ~12 buckets.

    `comparison` adds a back-test section (run B against run A, as ``eddy compare`` prints it):
    ``{run_a, run_b, model_a, model_b, events, only_a, only_b, n_boot, seed, rows}`` where each
    row is ``{segment, value, n, metric, a, b, diff, low, high, method, p_value}``.

    `task` (the pipeline's `models.task`): for a regression task the quality section shows MAE,
    RMSE and bias, for a multiclass one the class accuracy, and the sections that read the prediction
    as a probability of a 0/1 label (calibration, per-segment rates) are left out with a note.
    """
    f = M.Filters(pipeline=pipeline or "", run_id=run_id or "")
    n, lo, hi = M.time_range(backend, db, pipeline=f.pipeline, run_id=f.run_id)
    bucket = bucket_ms or nice_bucket_ms(max(hi - lo, 1))
    window = window_ms or bucket
    title = f"Eddy report: {pipeline or 'all pipelines'}" + (f", run {run_id}" if run_id else "")
    sections = [_header(n, lo, hi, pipeline, run_id, threshold, bucket, window, generated_ms)]
    if comparison is not None:
        sections.append(_comparison(comparison))
    if n == 0:
        sections.append("<p>No predictions match these filters.</p>")
    else:
        probability = task in PROBABILITY_TASKS
        sections.append(_quality(backend, db, f, bucket, threshold, task))
        if probability:
            sections.append(_calibration(backend, db, f))
            sections.append(_segments(backend, db, f, segments, threshold))
        else:
            sections.append(f'<p class="note">Calibration and per-segment rates read the prediction as a '
                            f"probability of a 0/1 label: not drawn for a {escape(task)} task.</p>")
        sections.append(_drift(backend, db, f, window, lo, psi_threshold))
        sections.append(_delays(backend, db, f))
    sections.append(_alerts(backend, db, f, (lo, hi) if n else None))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(title, sections), encoding="utf-8")
    return out


def _header(n: int, lo: int, hi: int, pipeline: str | None, run_id: str | None,
            threshold: float, bucket: int, window: int, generated_ms: int | None) -> str:
    rows = [{"pipeline": pipeline or "(all)", "run": run_id or "(all)", "predictions": n,
             "from": time_label(lo) if n else "", "to": time_label(hi) if n else "",
             "threshold": threshold, "bucket_min": bucket / 60_000,
             "drift_window_min": window / 60_000}]
    gen = (f'<p class="note">generated {escape(time_label(generated_ms))} UTC</p>'
           if generated_ms is not None else "")
    return table(rows) + gen + '<p class="note">Times are UTC. Definitions: docs/analytics.md.</p>'


COMPARE_COLUMNS = ["segment", "value", "n", "metric", "a", "b", "diff", "low", "high", "method", "p_value"]


def _comparison(c: Mapping[str, Any]) -> str:
    """Run B against run A on the events labelled in both: B - A with its 95% CI per metric."""
    rows = list(c.get("rows", []))
    head = (f"<h2>Back-test: {escape(str(c['run_b']))} ({escape(str(c['model_b']))}) vs "
            f"{escape(str(c['run_a']))} ({escape(str(c['model_a']))})</h2>"
            f"<p class=\"note\">{c['events']} events labelled in both runs (only A: {c['only_a']}, only B: "
            f"{c['only_b']}). B - A with a 95% confidence interval: DeLong's method for ROC AUC "
            f"(paired, with its p-value for equal AUCs), a paired percentile bootstrap "
            f"({c['n_boot']} resamples, seed {c['seed']}) for the other metrics ({', '.join(c.get('metrics', ['accuracy', 'log_loss', 'roc_auc']))}). "
            "Red: the interval excludes 0.</p>")
    if not rows:
        return head + '<p class="note">No labelled events common to both runs.</p>'
    overall = [r for r in rows if r["segment"] == "all"]
    charts = []
    for metric in dict.fromkeys(r["metric"] for r in rows):
        part = [r for r in rows if r["metric"] == metric]
        charts.append(interval_chart(
            [("all" if r["segment"] == "all" else f"{r['segment']}={r['value']}", r["diff"], r["low"], r["high"])
             for r in part], title=f"{metric}: B - A with 95% CI"))
    return (head + table(overall, COMPARE_COLUMNS) + '<div class="charts">' + "".join(charts) + "</div>"
            + details("Table: every segment value", table(rows, COMPARE_COLUMNS)))


def _quality(backend: Backend, db: str, f: M.Filters, bucket: int, threshold: float, task: str) -> str:
    overall = M.model_metrics(backend, db, filters=f, threshold=threshold)
    over_time = M.model_metrics(backend, db, filters=f, bucket_ms=bucket, threshold=threshold)
    multi = len({r["run_id"] for r in overall}) > 1
    charts = []
    bias = ("bias", "bias = mean prediction - mean label")
    note = ""
    if task in PROBABILITY_TASKS:
        metrics = [("roc_auc", "ROC AUC"), ("log_loss", "log loss"), ("accuracy", "accuracy"),
                   ("f1", f"F1 @ {threshold}"), bias]
        cols = ["run_id", "model", "n", "accuracy", "log_loss", "roc_auc", "precision", "recall",
                "f1", "bias", "mae", "rmse", "mean_prediction", "mean_label"]
    elif task == "regression":
        metrics = [("mae", "MAE"), ("rmse", "RMSE"), bias]
        cols = ["run_id", "model", "n", "mae", "rmse", "bias", "mean_prediction", "mean_label"]
    else:  # multiclass: the prediction is the top class's probability, the label a class index
        metrics = [("class_accuracy", "class accuracy")]
        cols = ["run_id", "model", "n", "class_accuracy", "mean_prediction"]
        note = (f'<p class="note">A {escape(task)} prediction is the top class\'s probability and its '
                "label a class index: the quality drawn is the share of rows whose predicted class is "
                "the label's.</p>")
    for metric, label in [*metrics, ("n", "labelled rows")]:
        series: dict[str, list[tuple[float, float | None]]] = {}
        for r in over_time:
            v = r[metric]
            series.setdefault(_series_name(r, multi), []).append(
                (r["bucket_ms"], float(v) if v is not None else None))
        charts.append(line_chart(series, title=f"{label} per model over time", time_x=True))
    return ("<h2>Model quality</h2>" + note + "<h3>Whole period</h3>" + table(overall, cols)
            + '<div class="charts">' + "".join(charts) + "</div>"
            + details("Table: metrics per bucket", table(over_time)))


def _calibration(backend: Backend, db: str, f: M.Filters) -> str:
    rows = M.calibration(backend, db, filters=f)
    multi = len({r["run_id"] for r in rows}) > 1
    series: dict[str, list[tuple[float, float | None]]] = {}
    for r in rows:
        series.setdefault(_series_name(r, multi), []).append(
            (r["mean_prediction"], r["observed_rate"]))
    chart = line_chart(series, title="Calibration: observed rate vs mean prediction",
                       x_range=(0, 1), y_range=(0, 1), diagonal=True)
    return ("<h2>Calibration</h2>" + chart + details("Table: calibration bins", table(rows)))


def _segments(backend: Backend, db: str, f: M.Filters, segments: Sequence[str],
              threshold: float) -> str:
    if not segments:
        return "<h2>Segments</h2><p class=\"note\">No segments configured.</p>"
    rows = M.segment_metrics(backend, db, segments=segments, filters=f, threshold=threshold)
    multi = len({r["run_id"] for r in rows}) > 1
    charts, worst = [], []
    keys = sorted({(r["run_id"], r["model"], r["segment"]) for r in rows})
    for run, model, seg in keys:
        part = [r for r in rows if (r["run_id"], r["model"], r["segment"]) == (run, model, seg)]
        groups = {r["segment_value"] or "(missing)": {
            "tpr": r["tpr"], "fpr": r["fpr"], "precision": r["precision"],
            "selection_rate": r["selection_rate"]} for r in part}
        top = min(part, key=lambda r: r["rank_worst"])
        worst.append(top)
        name = _series_name({"run_id": run, "model": model}, multi)
        charts.append(bar_chart(groups, title=f"{name}: {seg} (worst: {top['segment_value']}, "
                                f"disparity {top['disparity']:.3g})", y_range=(0, 1),
                                highlight=top["segment_value"] or "(missing)"))
        diffs = {r["segment_value"] or "(missing)": {
            "tpr": r["tpr_diff_overall"], "fpr": r["fpr_diff_overall"],
            "precision": r["precision_diff_overall"],
            "selection_rate": r["selection_rate_diff_overall"]} for r in part}
        charts.append(bar_chart(diffs, title=f"{name}: {seg}, difference vs all rows",
                                reference=0.0, highlight=top["segment_value"] or "(missing)"))
    cols = ["run_id", "model", "segment", "segment_value", "n", "tpr", "fpr", "precision",
            "selection_rate", "accuracy", "roc_auc", "log_loss", "bias", "tpr_diff_overall",
            "fpr_diff_overall", "precision_diff_overall", "selection_rate_diff_overall",
            "tpr_ratio_best", "fpr_ratio_best", "selection_rate_ratio_best", "disparity",
            "rank_worst"]
    return ("<h2>Segments and disparity</h2><p class=\"note\">Bars: TPR, FPR, precision and "
            "selection rate per segment value at the threshold; the worst value (largest "
            "disparity vs all rows) is in red.</p><h3>Worst segment value per model</h3>"
            + table(worst, cols) + '<div class="charts">' + "".join(charts) + "</div>"
            + details("Table: every segment value", table(rows, cols)))


def _drift(backend: Backend, db: str, f: M.Filters, window: int, lo: int,
           psi_threshold: float) -> str:
    ref_from = (lo // window) * window
    rows = M.drift(backend, db, window_ms=window, pipeline=f.pipeline, run_id=f.run_id,
                   ref_from_ms=ref_from, ref_to_ms=ref_from + window, psi_threshold=psi_threshold)
    names = sorted({f"{r['kind']}:{r['name']}" for r in rows},
                   key=lambda s: (["feature", "prediction", "label"].index(s.split(":")[0]), s))
    cols = sorted({r["window_ms"] for r in rows})
    values = {(f"{r['kind']}:{r['name']}", r["window_ms"]): r["psi"] for r in rows}
    chart = (heatmap(names, cols, values, title="PSI vs the reference window (feature x window)")
             if rows else empty_chart("PSI heatmap", "not enough data for drift"))
    first = M.first_drift(rows)
    flagged = [{"kind": k, "name": n, "first_drifted_window_ms": w} for (k, n), w in sorted(first.items())]
    return ("<h2>Drift</h2><p class=\"note\">Reference window: "
            f"{escape(time_label(ref_from))} + {window / 60_000:g} min. Drifted = PSI &ge; "
            f"{psi_threshold} and KS above its critical value (alpha 0.001).</p>" + chart
            + "<h3>First drifted window</h3>" + table(flagged, ["kind", "name", "first_drifted_window_ms"])
            + details("Table: PSI and KS per window", table(rows)))


def _delays(backend: Backend, db: str, f: M.Filters) -> str:
    rows = M.label_delays(backend, db, filters=f)
    cols = ["pipeline", "run_id", "n", "mean_ms", "min_ms", "p50_ms", "p75_ms", "p90_ms",
            "p95_ms", "p99_ms", "max_ms"]
    return "<h2>Label delays</h2>" + table(rows, cols)


def _alerts(backend: Backend, db: str, f: M.Filters, span: tuple[int, int] | None) -> str:
    rows = M.alerts(backend, db, filters=f)
    events = M.model_events(backend, db, filters=f)
    if span is not None and rows:
        span = (min(span[0], rows[0]["ts_ms"]), max(span[1], rows[-1]["ts_ms"]))
    chart = timeline([(r["ts_ms"], str(r["model"]), (f"{r['kind']} = {r['value']:.3g} "
                       f"({r['action']})")) for r in rows], title="Alerts timeline",
                     x_range=span)
    return ("<h2>Alerts and model events</h2>" + chart + table(rows)
            + "<h3>Model events</h3>" + table(events))
