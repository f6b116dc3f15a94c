"""`eddy`: the command line. One module per noun; this file only assembles them."""

from __future__ import annotations

import typer

from streams.cli import demo, features, models, produce, report, sql, stack, worker

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Eddy: real-time scoring and online learning on event streams.")
app.command()(stack.up)
app.command()(stack.down)
app.command()(stack.status)
app.command()(worker.worker)
app.command()(produce.produce)
app.command()(sql.sql)
app.command()(demo.demo)
from streams.cli import compare, replay, runs  # noqa: E402

app.command()(replay.replay)
app.add_typer(runs.app, name="runs")
app.command()(compare.compare)
app.add_typer(models.app, name="models")
app.command()(report.report)
app.add_typer(features.app, name="features")
from streams.cli import dlq  # noqa: E402

app.add_typer(dlq.app, name="dlq")

if __name__ == "__main__":
    app()
