"""`eddy sql "SELECT ..."`: query the configured ClickHouse; read-only unless --write."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from analytics import connect
from streams.cli.options import ClickhouseOpt, HomeOpt, fail, home_of
from streams.endpoints import resolve_one
from streams.exceptions import StreamsError


class Fmt(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def sql(
    query: Annotated[str, typer.Argument(help="SQL; tables live in database `eddy` (e.g. eddy.predictions).")],
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
    write: Annotated[bool, typer.Option("--write", help="Allow statements that change data.")] = False,
) -> None:
    """Run SQL against ClickHouse and print the rows."""
    try:
        url = resolve_one("clickhouse", clickhouse, home_of(home))
        backend = connect(url, readonly=not write)
        rows = backend.query(query)
    except StreamsError as exc:
        fail(exc)
        return
    except Exception as exc:  # noqa: BLE001 - analytics errors carry the server's message
        fail(exc)
        return
    print_rows(rows, fmt)


def print_rows(rows: list[dict], fmt: Fmt) -> None:
    """Print query rows as a rich table, CSV or JSON lines."""
    if fmt is Fmt.json:
        for r in rows:
            sys.stdout.write(json.dumps(r) + "\n")
        return
    cols = list(rows[0]) if rows else []
    if fmt is Fmt.csv:
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c] for c in cols])
        return
    table = Table(show_lines=False)
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*(str(r[c]) for c in cols))
    Console().print(table)
