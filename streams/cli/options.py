"""Options shared by every command: endpoints (flag > env var > running stack) and the config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.config import PipelineConfig, load_config
from streams.endpoints import Endpoints, default_home, resolve
from streams.exceptions import StreamsError

KafkaOpt = Annotated[str | None, typer.Option("--kafka", envvar="EDDY_KAFKA", help="Kafka bootstrap servers (host:port,...).")]
RedisOpt = Annotated[str | None, typer.Option("--redis", envvar="EDDY_REDIS", help="Redis URL (redis://[:password@]host:port/db; a Redis Cluster: any node, or several URLs separated by commas).")]
ClickhouseOpt = Annotated[str | None, typer.Option("--clickhouse", envvar="EDDY_CLICKHOUSE", help="ClickHouse: http://host:port (chDB server), clickhouse://user:pw@host:port/db, chdb:///path.")]
HomeOpt = Annotated[Path | None, typer.Option("--home", envvar="EDDY_HOME", help="Where `eddy up` keeps the stack state (default ./.eddy).")]
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", envvar="EDDY_CONFIG", help="Pipeline YAML (e.g. examples/fraud/config.yaml).")]
RegistryOpt = Annotated[str | None, typer.Option("--registry", envvar="EDDY_SCHEMA_REGISTRY", help="Schema registry: a folder, or http(s)://confluent-registry.")]


def home_of(home: Path | None) -> Path:
    return (home or default_home()).resolve()


def endpoints(kafka: str | None, redis: str | None, clickhouse: str | None, home: Path | None) -> Endpoints:
    return resolve(kafka, redis, clickhouse, home_of(home))


def config(path: Path) -> PipelineConfig:
    return load_config(path)


def fail(exc: StreamsError | Exception) -> None:
    """Print an error the way every command does and exit 2."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)
