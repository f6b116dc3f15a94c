"""`eddy report -c CONFIG [--run-id R] -o report.html`: one self-contained HTML page with plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analytics import connect
from analytics.report.build import build_report
from streams.cli.options import ClickhouseOpt, ConfigOpt, HomeOpt, config, fail, home_of
from streams.endpoints import resolve_one
from streams.exceptions import StreamsError


def report(
    config_path: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML page.")] = Path("report.html"),
    run_id: Annotated[str | None, typer.Option(help="Only this run (default: every run of the pipeline).")] = None,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
) -> None:
    """Metrics over time per model, per-segment bias, PSI drift heatmap, calibration, alerts."""
    try:
        cfg = config(config_path)
        backend = connect(resolve_one("clickhouse", clickhouse, home_of(home)), readonly=True)
        path = build_report(backend, cfg.sink.database, out_path=out, run_id=run_id, pipeline=cfg.pipeline,
                            threshold=cfg.models.threshold, segments=cfg.segments)
    except StreamsError as exc:
        fail(exc)
        return
    except Exception as exc:  # noqa: BLE001 - analytics errors carry ClickHouse's message
        fail(exc)
        return
    typer.echo(f"wrote {path}")
