"""The pipeline part of `eddy status`: live counters and model versions per pipeline in Redis."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from streams.wiring import redis_client

console = Console()


def print_pipelines(state) -> None:  # noqa: ANN001 - StackState
    """Counters (`eddy:<p>:counters`) and current model versions of every pipeline seen in Redis."""
    try:
        r = redis_client(state.redis)
        keys = sorted(k.decode() for k in r.scan_iter(match="eddy:*:counters", count=1000))
    except Exception as exc:  # noqa: BLE001 - status must print what it can
        console.print(f"[yellow]Redis not reachable: {type(exc).__name__}[/yellow]")
        return
    for key in keys:
        pipeline = key.split(":")[1]
        counters = {k.decode(): int(v) for k, v in r.hgetall(key).items()}
        table = Table(title=f"pipeline {pipeline}")
        table.add_column("counter")
        table.add_column("value", justify="right")
        for k in sorted(counters):
            table.add_row(k, str(counters[k]))
        console.print(table)
