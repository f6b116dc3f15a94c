"""`eddy features get -c CONFIG ENTITY KEY`: a key's current feature values (online lookup)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features import FeatureError
from streams.cli.options import ConfigOpt, HomeOpt, RedisOpt, config, fail, home_of
from streams.endpoints import resolve_one
from streams.exceptions import StreamsError

app = typer.Typer(no_args_is_help=True, help="Online feature lookup.")


def parse_time(value: str | None) -> int:
    """`None` -> now; digits -> epoch ms; otherwise ISO-8601 (UTC if no offset)."""
    if value is None:
        return int(time.time() * 1000)
    if value.isdigit():
        return int(value)
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@app.command("get")
def get(
    entity: Annotated[str, typer.Argument(help="Entity field, e.g. card_id.")],
    key: Annotated[str, typer.Argument(help="The key's value, e.g. c00042.")],
    config_path: ConfigOpt,
    redis: RedisOpt = None,
    home: HomeOpt = None,
    at: Annotated[str | None, typer.Option(help="As of this time (epoch ms or ISO-8601; default now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print ENTITY=KEY's window feature values, the values the scorer would compute."""
    from streams.online import OnlineFeatures

    try:
        cfg = config(config_path)
        online = OnlineFeatures(cfg, resolve_one("redis", redis, home_of(home)))
        values = online.get(entity, key, parse_time(at))
    except (StreamsError, FeatureError, ValueError) as exc:
        fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(values))
        return
    table = Table(title=f"{entity}={key}")
    table.add_column("feature")
    table.add_column("value", justify="right")
    for name, v in values.items():
        table.add_row(name, f"{v:.6g}")
    Console().print(table)
