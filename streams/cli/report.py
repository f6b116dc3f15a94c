"""`eddy report -c CONFIG [--run-id R [--compare R2]] -o report.html`: one self-contained HTML page
with plots; ``--compare`` adds the back-test table of ``eddy compare R R2`` with its intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analytics import connect
from analytics.metrics import run_ids
from analytics.report.build import build_report
from streams.cli.options import ClickhouseOpt, ConfigOpt, HomeOpt, config, fail, home_of
from streams.endpoints import resolve_one
from streams.exceptions import StreamsError
from streams.manifest import live_run_id
from streams.replay.compare import comparison


def default_run(runs: list[str], pipeline: str) -> str | None:
    """The run a report shows when none is named: the live run, else the only one. Several runs
    are never pooled: a replay scores the same events again, so every figure would count them twice.

    >>> default_run(["fraud-live", "replay-1"], "fraud"), default_run(["r1"], "fraud"), default_run([], "fraud")
    ('fraud-live', 'r1', None)
    """
    if live_run_id(pipeline) in runs:
        return live_run_id(pipeline)
    if len(runs) <= 1:
        return runs[0] if runs else None
    raise StreamsError(f"pipeline {pipeline!r} has {len(runs)} runs ({', '.join(runs[:5])}"
                       f"{', ...' if len(runs) > 5 else ''}): pick one with --run-id")


def report(
    config_path: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML page.")] = Path("report.html"),
    run_id: Annotated[str | None, typer.Option(help="The run to report (default: the live run <pipeline>-live, or "
                                                    "the pipeline's only run).")] = None,
    compare: Annotated[str | None, typer.Option(
        "--compare", help="Add a back-test section: this run (B) against --run-id (A), as `eddy compare A B`.")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples of --compare (accuracy, log loss).")] = 500,
    seed: Annotated[int, typer.Option(help="Bootstrap seed of --compare.")] = 42,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
) -> None:
    """Metrics over time per model, per-segment bias, PSI drift heatmap, calibration, alerts."""
    try:
        cfg = config(config_path)
        backend = connect(resolve_one("clickhouse", clickhouse, home_of(home)), readonly=True)
        if compare is not None and run_id is None:
            raise StreamsError("--compare B needs --run-id A: the run B is compared against")
        if run_id is None:
            run_id = default_run(run_ids(backend, cfg.sink.database, pipeline=cfg.pipeline), cfg.pipeline)
        versus = (comparison(backend, cfg.sink.database, run_id, compare, n_boot=bootstrap, seed=seed)
                  if compare is not None and run_id is not None else None)
        path = build_report(backend, cfg.sink.database, out_path=out, run_id=run_id, pipeline=cfg.pipeline,
                            threshold=cfg.models.threshold, segments=cfg.segments, comparison=versus,
                            task=cfg.models.task)
    except StreamsError as exc:
        fail(exc)
        return
    except Exception as exc:  # noqa: BLE001 - analytics errors carry ClickHouse's message
        fail(exc)
        return
    typer.echo(f"wrote {path}")
