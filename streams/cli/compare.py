"""`eddy compare A B`: back-test metrics of run B against run A with confidence intervals
(DeLong for ROC AUC, paired bootstrap for accuracy and log loss)."""

from __future__ import annotations

import math
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analytics import connect
from eddy.errors import EddyError
from streams.cli.options import ClickhouseOpt, HomeOpt, fail, home_of
from streams.endpoints import resolve_one
from streams.replay.compare import compare_runs, reference_of


def _f(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4f}"


def _p(p: float) -> str:
    return "" if not math.isfinite(p) else ("<1e-4" if p < 1e-4 else f"{p:.4f}")


def compare(
    run_a: Annotated[str, typer.Argument(help="Reference run (e.g. production).")],
    run_b: Annotated[str, typer.Argument(help="Run to compare (e.g. a challenger back-test).")],
    model_a: Annotated[str | None, typer.Option("--model-a", help="Model of run A (default: its champion as served, event by event).")] = None,
    model_b: Annotated[str | None, typer.Option("--model-b", help="Model of run B (default: its champion as served, event by event).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples.")] = 500,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 42,
    min_segment: Annotated[int, typer.Option(help="Smallest segment (events) to report.")] = 30,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    database: Annotated[str, typer.Option("--database", help="ClickHouse database.")] = "eddy",
) -> None:
    """The task's metrics of B minus A (binary: accuracy, log loss, ROC AUC; regression: MAE, RMSE; ...), overall and per segment, with 95% CIs (DeLong for AUC)."""
    try:
        backend = connect(resolve_one("clickhouse", clickhouse, home_of(home)))
        label_pipeline, threshold, task = reference_of(backend, database, run_a, run_b)
        rows, info = compare_runs(backend, database, run_a, run_b, label_pipeline=label_pipeline,
                                  model_a=model_a, model_b=model_b, threshold=threshold, n_boot=bootstrap,
                                  seed=seed, min_segment=min_segment, task=task)
    except EddyError as exc:
        fail(exc)
        return
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(f"A = {run_a} ({info['model_a']}), B = {run_b} ({info['model_b']}), {info['task']}: {info['events']} labelled events "
                  f"in both (only A: {info['only_a']}, only B: {info['only_b']}); CI: DeLong for ROC AUC (with its "
                  f"p-value), {bootstrap} paired bootstrap resamples (seed {seed}) for the others")
    if not rows:
        fail(EddyError("no labelled events common to both runs: check the run ids and that labels reached ClickHouse"))
    table = Table("segment", "value", "n", "metric", "A", "B", "B - A", "95% CI", "CI by", "p")
    for r in rows:
        table.add_row(r.segment, r.value, str(r.n), r.metric, _f(r.a), _f(r.b), _f(r.diff),
                      escape(f"[{_f(r.low)}, {_f(r.high)}]"), r.method, _p(r.p_value))
    console.print(table)
