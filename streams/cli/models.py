"""`eddy models ls|rollback|promote -c CONFIG`: a pipeline's model versions in the registry.

Every change is made in the Redis registry (one atomic step) and published as a model event
(Avro, built-in `model_event` schema) on `<p>.model-events`, where the sink logs it. Running
workers pick the change up at their next `worker.model_refresh` poll: a rollback is a new
version whose content is the old one, a promotion is a role change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from eddy.errors import EddyError
from learners import ModelRegistry
from streams.cli.options import ConfigOpt, HomeOpt, KafkaOpt, RedisOpt, RegistryOpt, config, fail, home_of
from streams.config import PipelineConfig
from streams.endpoints import resolve_one

app = typer.Typer(no_args_is_help=True, help="List, roll back and promote a pipeline's model versions.")

RunIdOpt = Annotated[str | None, typer.Option("--run-id", envvar="EDDY_RUN_ID", help="Run id written on the model events (default <pipeline>-live).")]


def _registry(cfg: PipelineConfig, redis: str | None, home: Any) -> ModelRegistry:
    from streams.wiring import model_registry, redis_client

    return model_registry(cfg, redis_client(resolve_one("redis", redis, home_of(home)), cfg.pipeline))


def _publish(cfg: PipelineConfig, events: list[dict], kafka: str | None, home: Any, registry_spec: str | None,
             run_id: str | None) -> None:
    """Publish registry events on `<p>.model-events` (Avro), as the worker does."""
    if not events:
        return
    from streams.kafka_io import ensure_topics, make_producer
    from streams.manifest import live_run_id
    from streams.run_records import model_event_record
    from streams.wiring import Codecs, schema_registry

    servers = resolve_one("kafka", kafka, home_of(home))
    codecs = Codecs.build(cfg, schema_registry(registry_spec, home_of(home)))
    ensure_topics(servers, cfg.topics.layout())
    producer = make_producer(servers)
    for ev in events:
        rec = model_event_record(cfg.pipeline, live_run_id(cfg.pipeline, run_id), ev)
        producer.send(cfg.topics.model_events, ev["model"].encode(), codecs.encode("model_events", rec))
    producer.flush()


def _redis_down(exc: RedisError) -> str:
    return f"cannot use the model registry in Redis ({exc}): start the stack (`eddy up`) or pass --redis / EDDY_REDIS"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def version_rows(registry: ModelRegistry) -> list[dict[str, Any]]:
    """One row per retained version: model, version, role, created (UTC), action, current."""
    rows = []
    for v in registry.list():
        action = v.action if v.source_version is None else f"{v.action} (of v{v.source_version})"
        rows.append({"model": v.name, "version": v.version, "role": v.role, "created": _when(v.created_ms),
                     "action": action, "current": "*" if v.current else ""})
    return rows


@app.command("ls")
def ls(
    config_path: ConfigOpt,
    redis: RedisOpt = None,
    home: HomeOpt = None,
    current_only: Annotated[bool, typer.Option("--current", help="Only each model's current version.")] = False,
) -> None:
    """Table of the retained versions of every model (current marked with *)."""
    try:
        rows = version_rows(_registry(config(config_path), redis, home))
    except EddyError as exc:
        fail(exc)
        return
    except RedisError as exc:
        fail(_redis_down(exc))
        return
    if current_only:
        rows = [r for r in rows if r["current"]]
    if not rows:
        typer.echo("no model versions yet: start `eddy worker` and send labels")
        return
    table = Table()
    for col in ("model", "version", "role", "created", "action", "current"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("model", "version", "role", "created", "action", "current")))
    Console(width=200).print(table)


def _change(action: Callable[[ModelRegistry, int], Any], config_path: Any, redis: str | None, kafka: str | None,
            home: Any, registry: str | None, run_id: str | None) -> Any:
    """Apply one registry change, publish its model events; errors exit 2 with a clear message."""
    try:
        cfg = config(config_path)
        reg = _registry(cfg, redis, home)
        result = action(reg, int(time.time() * 1000))
        _publish(cfg, reg.drain_events(), kafka, home, registry, run_id)
    except EddyError as exc:
        fail(exc)
    except RedisError as exc:
        fail(_redis_down(exc))
    return result


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="Model name (see `eddy models ls`).")],
    version: Annotated[int, typer.Argument(help="The version whose content becomes current again.")],
    config_path: ConfigOpt,
    redis: RedisOpt = None,
    kafka: KafkaOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
    run_id: RunIdOpt = None,
) -> None:
    """Serve the content of VERSION again, as a new version (versions only grow)."""
    new = _change(lambda reg, now: reg.rollback(name, version, now_ms=now), config_path, redis, kafka, home,
                  registry, run_id)
    typer.echo(f"{name}: v{new} now serves the content of v{version}")


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="The challenger to make champion (never the baseline).")],
    config_path: ConfigOpt,
    redis: RedisOpt = None,
    kafka: KafkaOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
    run_id: RunIdOpt = None,
) -> None:
    """Make NAME champion; the old champion takes NAME's former role."""
    old = _change(lambda reg, now: reg.promote(name, now_ms=now), config_path, redis, kafka, home, registry, run_id)
    typer.echo(f"{name} is champion" + (f" (was {old})" if old else " (already was)"))
