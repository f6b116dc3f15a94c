"""`eddy up | down | status`: the embedded stack."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streams.cli.options import HomeOpt, fail, home_of
from streams.exceptions import StreamsError
from streams.stack import down as stack_down
from streams.stack import status as stack_status
from streams.stack import up as stack_up

console = Console()


def up(
    home: HomeOpt = None,
    kafka_port: Annotated[int | None, typer.Option(envvar="EDDY_KAFKA_PORT", help="Broker port (default: any free port).")] = None,
    redis_port: Annotated[int | None, typer.Option(envvar="EDDY_REDIS_PORT", help="Redis port (default: any free port).")] = None,
    clickhouse_port: Annotated[int | None, typer.Option(envvar="EDDY_CLICKHOUSE_PORT", help="chDB server HTTP port (default: any free port).")] = None,
) -> None:
    """Start Tansu (Kafka protocol), Redis and the chDB server in the background. Idempotent."""
    try:
        with console.status("starting the embedded stack..."):
            state = stack_up(home_of(home), kafka_port, redis_port, clickhouse_port)
    except StreamsError as exc:
        fail(exc)
    _print(state)


def down(home: HomeOpt = None) -> None:
    """Stop the embedded stack recorded in the state file. Idempotent."""
    state = stack_down(home_of(home))
    console.print("stack stopped" if state else "no stack was running")


def status(home: HomeOpt = None) -> None:
    """Show the embedded stack's endpoints and whether each process is alive."""
    state = stack_status(home_of(home))
    if state is None:
        console.print("no stack recorded: run `eddy up`")
        raise typer.Exit(1)
    _print(state)
    from streams.cli.status_extra import print_pipelines

    print_pipelines(state)


def _print(state) -> None:  # noqa: ANN001
    health = state.health()
    table = Table(title=f"Eddy stack ({state.home})")
    for col in ("service", "endpoint", "pid", "alive"):
        table.add_column(col)
    for name in ("kafka", "redis", "clickhouse"):
        table.add_row(name, getattr(state, name), str(state.pids.get(name, "")), "yes" if health[name] else "NO")
    console.print(table)
    console.print(f"chDB data folder: {state.chdb_path}   logs: {state.home}/logs")
