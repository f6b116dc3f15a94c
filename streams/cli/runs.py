"""`eddy runs ls|show RUN`: the run manifests stored in ClickHouse ``runs``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from analytics import connect
from eddy.errors import EddyError
from streams.cli.options import ClickhouseOpt, HomeOpt, fail, home_of
from streams.endpoints import resolve_one
from streams.manifest import Manifest, list_manifests, load_manifest

app = typer.Typer(no_args_is_help=True, help="Run manifests (live runs and replays).")
DbOpt = Annotated[str, typer.Option("--database", help="ClickHouse database.")]


def portable_config(m: Manifest) -> str:
    r"""The run's config YAML with its schema path made absolute, so a copy works from any folder.

    The stored YAML keeps `event.schema` as written (relative to the config file); the manifest
    records that file's folder (`inputs.config_dir`), against which it is resolved here.

    >>> m = Manifest(run_id="r", pipeline="p", kind="replay", created_at=0, code_version="v",
    ...              config_yaml="pipeline: p\nevent:\n  schema: e.avsc\n  id_field: id\n", config_hash="h",
    ...              inputs={"config_dir": "/srv/fraud"})
    >>> print(portable_config(m), end="")
    pipeline: p
    event:
      schema: /srv/fraud/e.avsc
      id_field: id
    """
    raw = yaml.safe_load(m.config_yaml)
    event = raw.get("event") if isinstance(raw, dict) else None
    schema = event.get("schema") if isinstance(event, dict) else None
    base = m.inputs.get("config_dir")
    if not isinstance(schema, str) or Path(schema).is_absolute() or not base:
        return m.config_yaml
    event["schema"] = str((Path(base) / schema).resolve())
    return yaml.safe_dump(raw, sort_keys=False)


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("ls")
def ls(
    pipeline: Annotated[str | None, typer.Option("--pipeline", "-p", help="Only this pipeline's runs.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N runs.")] = 50,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    database: DbOpt = "eddy",
) -> None:
    """List runs, newest first."""
    try:
        runs = list_manifests(connect(resolve_one("clickhouse", clickhouse, home_of(home))), database, pipeline, limit)
    except EddyError as exc:
        fail(exc)
        return
    table = Table("run_id", "pipeline", "kind", "created (UTC)", "config", "code", "source", "events", "like")
    for col in table.columns:
        col.overflow = "fold"
    for m in runs:
        ev = m.inputs.get("events", {})
        table.add_row(m.run_id, m.pipeline, m.kind, _when(m.created_at), m.config_hash, m.code_version,
                      str(m.inputs.get("source", "")), str(ev.get("count", "")), m.like_run or "")
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    config: Annotated[bool, typer.Option("--config", help="Print only the config YAML (schema path made absolute: save it anywhere, edit it, replay it).")] = False,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    database: DbOpt = "eddy",
) -> None:
    """Show one run's manifest (config, code and package versions, schema ids, seeds, inputs)."""
    try:
        m = load_manifest(connect(resolve_one("clickhouse", clickhouse, home_of(home))), database, run_id)
    except EddyError as exc:
        fail(exc)
        return
    if config:
        typer.echo(portable_config(m), nl=False)
        return
    typer.echo(f"run_id:       {m.run_id}\npipeline:     {m.pipeline}\nkind:         {m.kind}\n"
               f"created_at:   {_when(m.created_at)} UTC\nconfig_hash:  {m.config_hash}\ncode_version: {m.code_version}\n"
               f"like_run:     {m.like_run or '-'}")
    typer.echo("packages:     " + ", ".join(f"{k}={v}" for k, v in sorted(m.packages.items())))
    typer.echo("schema_ids:   " + json.dumps(m.schema_ids, sort_keys=True))
    typer.echo("seeds:        " + json.dumps(m.seeds, sort_keys=True))
    typer.echo("inputs:\n" + json.dumps(m.inputs, indent=2, sort_keys=True))
    typer.echo("config:\n" + m.config_yaml)
