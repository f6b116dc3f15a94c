"""`eddy sql "SELECT ..."`: query the configured ClickHouse; read-only unless --write."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
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
        cols, rows = run_sql(backend, query)
    except StreamsError as exc:
        fail(exc)
        return
    except Exception as exc:  # noqa: BLE001 - analytics errors carry the server's message
        fail(exc)
        return
    print_rows(cols, rows, fmt)


def run_sql(backend: Any, query: str) -> tuple[list[str], list[dict]]:
    """Run `query`; its column names (known even when no row comes back) and its rows.

    A statement without a result set (DDL, INSERT) has no columns. A query ending in its own
    `FORMAT JSONEachRow` still works (its columns are those of the first row).
    """
    text = backend.query_text(query, "JSONCompactEachRowWithNames")
    # split on "\n" only: str.splitlines() would also split inside values on \x85, \u2028...
    lines = [json.loads(line) for line in text.split("\n") if line.strip()]
    if not lines:
        return [], []
    if isinstance(lines[0], dict):
        return list(lines[0]), lines
    cols = [str(c) for c in lines[0]]
    return cols, [dict(zip(cols, values, strict=True)) for values in lines[1:]]


def print_rows(cols: list[str], rows: list[dict], fmt: Fmt) -> None:
    """Print query rows as a rich table, CSV (header line first) or JSON lines (one object a row).

    No row: the table's header and "0 rows", the CSV header alone, no JSON line (stdout stays
    valid JSON lines; "0 rows" goes to stderr). A statement without a result set prints "Ok."
    as a table, nothing as CSV or JSON.
    """
    if fmt is Fmt.json:
        for r in rows:
            sys.stdout.write(json.dumps(r) + "\n")
        if cols and not rows:
            sys.stderr.write("0 rows\n")
        return
    if fmt is Fmt.csv:
        if not cols:
            return
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c] for c in cols])
        return
    console = Console()
    if not cols:
        console.print("Ok.")
        return
    table = Table(show_lines=False)
    for c in cols:
        table.add_column(escape(c))
    for r in rows:
        table.add_row(*(escape(str(r[c])) for c in cols))  # data, not rich markup
    console.print(table)
    if not rows:
        console.print("0 rows")
