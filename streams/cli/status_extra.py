"""The pipeline part of `eddy status`: per pipeline seen in Redis, its live workers (heartbeats:
roles, throughput, lag), counters, current model versions (registry heads) and last alerts
(ClickHouse, when the chDB server answers)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from streams.keyspace import namespace, pipeline_of, sink_database_key
from streams.redis_slot import master_clients
from streams.wiring import redis_client

console = Console()


def print_pipelines(state) -> None:  # noqa: ANN001 - StackState
    """Workers, counters (`eddy:{<p>}:counters`), model versions and last alerts of every pipeline."""
    try:
        seed = redis_client(state.redis)
        keys = sorted(k.decode() for node in master_clients(seed)
                      for k in node.scan_iter(match="eddy:{*}:counters", count=1000))
    except Exception as exc:  # noqa: BLE001 - status must print what it can
        console.print(f"[yellow]Redis not reachable: {type(exc).__name__}[/yellow]")
        return
    backend = _clickhouse(state)
    for key in keys:
        pipeline = pipeline_of(key)
        try:
            r = redis_client(state.redis, pipeline)  # (on a cluster: the node of the pipeline's slot)
            counters = {k.decode(): int(v) for k, v in r.hgetall(key).items()}
        except Exception as exc:  # noqa: BLE001 - status must print what it can (a slot moving, a failover)
            console.print(f"[yellow]pipeline {pipeline}: Redis not reachable now ({type(exc).__name__})[/yellow]")
            continue
        table = Table(title=f"pipeline {pipeline}")
        table.add_column("counter")
        table.add_column("value", justify="right")
        for k in sorted(counters):
            table.add_row(k, str(counters[k]))
        console.print(table)
        _print_workers(r, pipeline)
        _print_models(r, pipeline)
        if backend is not None:
            _print_alerts(backend, pipeline, _sink_database(r, pipeline))


def _print_workers(r: Any, pipeline: str) -> None:
    from streams.observability import read_workers

    workers = read_workers(r, pipeline)
    if not workers:
        console.print(f"[dim]{pipeline}: no live worker (heartbeats expire 15 s after a worker stops)[/dim]")
        return
    table = Table(title=f"{pipeline}: workers")
    for col in ("worker", "roles", "up (s)", "events/s", "events in", "lag", "outages", "metrics"):
        table.add_column(col, justify="right" if col in ("up (s)", "events/s", "events in", "lag") else "left")
    for w in workers:
        lag = sum(p["lag"] for p in w.get("lag", []))
        table.add_row(w["worker"], ",".join(w["roles"]), f"{w['uptime_s']:.0f}", f"{w['events_per_s']:.1f}",
                      str(w["totals"].get("events_in", 0)), str(lag), ",".join(w["outages"]) or "-",
                      w.get("metrics_url") or "-")
    console.print(table)


def _print_models(r: Any, pipeline: str) -> None:
    from learners import ModelRegistry

    registry = ModelRegistry(r, namespace(pipeline))
    names = sorted(k.decode() if isinstance(k, bytes) else k for k in r.hkeys(registry.roles_key))
    if not names:
        return
    table = Table(title=f"{pipeline}: models")
    for col in ("model", "role", "version"):
        table.add_column(col)
    for name, head in registry.heads(names).items():
        table.add_row(name, head.role or "-", str(head.version))
    console.print(table)


def _clickhouse(state) -> Any | None:  # noqa: ANN001
    if not state.clickhouse or not state.health().get("clickhouse"):
        return None
    try:
        from analytics import connect

        return connect(state.clickhouse)
    except Exception:  # noqa: BLE001 - status must print what it can
        return None


def _sink_database(r: Any, pipeline: str) -> str:
    """The database the pipeline's sink writes to, as its worker recorded it (else ``eddy``)."""
    try:
        db = r.get(sink_database_key(pipeline))
    except Exception:  # noqa: BLE001 - status must print what it can
        db = None
    return db.decode() if isinstance(db, bytes) else (db or "eddy")


def _print_alerts(backend: Any, pipeline: str, database: str = "eddy", limit: int = 5) -> None:
    from analytics.sqltext import identifier

    try:
        rows = backend.query(
            # newest alert time first (the alerts of one sink batch share inserted_at)
            f"SELECT model, kind, value, action, toString(ts) AS at FROM {identifier(database)}.alerts FINAL "
            "WHERE pipeline = {p:String} ORDER BY ts DESC, inserted_at DESC, model, kind "
            f"LIMIT {int(limit)}", {"p": pipeline})
    except Exception as exc:  # noqa: BLE001 - status must print what it can
        console.print(f"[dim]{pipeline}: alerts unavailable ({type(exc).__name__})[/dim]")
        return
    if not rows:
        console.print(f"[dim]{pipeline}: no alerts[/dim]")
        return
    table = Table(title=f"{pipeline}: last alerts")
    for col in ("ts", "model", "kind", "value", "action"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["at"], row["model"], row["kind"], f"{row['value']:.3f}", row["action"])
    console.print(table)
