"""`eddy replay`: deterministic replay under a new run id, `--like R` back-tests, `--verify R`.

    eddy replay -c CONFIG --run-id R [--from T|P:O] [--to T|P:O] [--source kafka|clickhouse]
    eddy replay -c CHALLENGER.yaml --run-id R2 --like R      # R's exact inputs, another config
    eddy replay --verify R                                    # bitwise check against R's stored output
"""

from __future__ import annotations

import os
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics import connect, ensure_schema
from eddy.errors import EddyError
from streams.cli.options import ClickhouseOpt, HomeOpt, KafkaOpt, RegistryOpt, fail, home_of
from streams.config import load_config
from streams.endpoints import resolve_one
from streams.manifest import build_manifest, live_run_id, load_manifest, run_kind, save_manifest
from streams.replay.inputs import Selection, read_inputs
from streams.replay.output import PredictionWriter
from streams.replay.runner import replay_inputs
from streams.replay.verify import verify_run
from streams.wiring import Codecs, schema_registry

console = Console(stderr=True)


class SourceKind(str, Enum):
    kafka = "kafka"
    clickhouse = "clickhouse"


def _bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:,.0f} events/s"), TimeElapsedColumn(), console=console)


def _progress_cb(bar: Progress, task: Any) -> Any:
    t0 = time.perf_counter()

    def cb(items_done: int, events_done: int) -> None:
        bar.update(task, completed=items_done, rate=events_done / max(time.perf_counter() - t0, 1e-9))

    return cb


def replay(
    config_path: Annotated[Path | None, typer.Option("--config", "-c", envvar="EDDY_CONFIG", help="Pipeline YAML to replay through.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id the predictions are written under (required unless --verify).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First event: ISO time, ms since epoch, or P:O[,P:O] offsets (inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End: ISO time / ms (exclusive), or P:O offsets (exclusive).")] = None,
    source: Annotated[SourceKind, typer.Option("--source", help="Read the topics, or the ClickHouse event archive.")] = SourceKind.kafka,
    like: Annotated[str | None, typer.Option("--like", help="Replay exactly the inputs of this run (back-testing).")] = None,
    verify: Annotated[str | None, typer.Option("--verify", help="Replay RUN with its manifest; report if every prediction is bitwise identical.")] = None,
    scores_topic: Annotated[str | None, typer.Option("--scores-topic", help="Also publish the replay's score records to this topic.")] = None,
    batch_size: Annotated[int, typer.Option(help="Max events per scoring micro-batch.")] = 2000,
    force: Annotated[bool, typer.Option("--force", help="Reuse an existing run id (rows are replaced by key).")] = False,
    database: Annotated[str | None, typer.Option("--database", help="ClickHouse database (default: the config's sink.database, else eddy).")] = None,
    kafka: KafkaOpt = None,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Replay events and labels in time order through the same code; write predictions under a new run id."""
    h = home_of(home)
    try:
        backend = connect(resolve_one("clickhouse", clickhouse, h))
        reg = schema_registry(registry, h)
        if verify:
            _verify(verify, backend, database or "eddy", kafka, h, reg, batch_size)
            return
        if config_path is None or not run_id:
            raise typer.BadParameter("pass -c CONFIG and --run-id RUN (or --verify RUN)")
        cfg = load_config(config_path)
        db = database or cfg.sink.database
        ensure_schema(backend, db, cfg.sink.ttl_days)
        kind = run_kind(backend, db, run_id)
        live_ids = {live_run_id(cfg.pipeline), live_run_id(cfg.pipeline, os.environ.get("EDDY_RUN_ID"))}
        if kind == "live" or run_id in live_ids:  # its rows would replace production's, by key
            fail(EddyError(f"run id {run_id!r} is the live run's: a replay writes under its own "
                           f"(e.g. --run-id {cfg.pipeline}-replay-1), even with --force"))
        if kind is not None and not force:
            fail(EddyError(f"run {run_id!r} already exists; pick another --run-id or pass --force"))
        like_inputs = load_manifest(backend, db, like).inputs if like else None
        src = (like_inputs or {}).get("source", source.value)
        servers = resolve_one("kafka", kafka, h) if src == "kafka" else None
        codecs = Codecs.build(cfg, reg)
        console.print(f"reading inputs from {src} ...")
        inputs = read_inputs(cfg, codecs, src, Selection.from_bounds(start, end), kafka=servers, backend=backend, db=db,
                             like=like_inputs)
        if not inputs.events and not inputs.undecodable:
            where = inputs.description.get("events", {}).get("topic", "the inputs")
            raise EddyError(f"no events in {where} for this selection: check the pipeline name, --from/--to and "
                            "the endpoints (`eddy status`)")
        producer = None
        if scores_topic:
            from streams.kafka_io import ensure_topics, make_producer

            kservers = servers or resolve_one("kafka", kafka, h)
            ensure_topics(kservers, {scores_topic: cfg.partitions})
            producer = make_producer(kservers)
        writer = PredictionWriter(backend, db, cfg.pipeline, producer=producer, topic=scores_topic,
                                  encode=lambda r: codecs.encode("scores", r, trusted=True))
        n_items = len(inputs.events) + len(inputs.labels)
        with _bar() as bar:
            task = bar.add_task(f"replay {run_id}", total=n_items, rate=0.0)
            result = replay_inputs(cfg, run_id, inputs, on_scores=writer,
                                   on_drift=lambda alerts, actions: writer.log_drift(run_id, alerts, actions),
                                   batch_size=batch_size, progress=_progress_cb(bar, task))
        writer.close()
        schema_ids = {"events": codecs.codec.schema_for(codecs.subject("events"))[0],
                      "labels": codecs.codec.schema_for(codecs.subject("labels"))[0]}
        manifest = build_manifest(cfg, run_id, kind="replay", created_at=int(time.time() * 1000),
                                  inputs={**inputs.description, "result": result.summary()}, schema_ids=schema_ids,
                                  like_run=like)
        save_manifest(backend, db, manifest)
    except typer.BadParameter:
        raise
    except (EddyError, OSError) as exc:
        fail(exc)
        return
    s = result.stats
    ended = {k: s.outcomes.get(k, 0) for k in ("learned", "duplicate", "orphan")}
    waiting = s.labels - sum(ended.values())  # (still early at the end of the input, or dead-lettered)
    typer.echo(f"run {run_id}: {s.events} events ({s.scored} scored), {s.dlq} dead letters (undecodable "
               f"messages included), {s.labels} labels ({', '.join(f'{n} {k}' for k, n in ended.items())}"
               f"{f', {waiting} waiting or dead-lettered' if waiting else ''}), "
               f"{result.digest.count} predictions, {s.alerts} drift alerts, {result.events_per_s:,.0f} events/s")
    typer.echo(f"fingerprint {result.digest.hexdigest()}  config {manifest.config_hash}  code {manifest.code_version}")


def _verify(run: str, backend: Any, db: str, kafka: str | None, home: Path, reg: Any, batch_size: int) -> None:
    manifest = load_manifest(backend, db, run)
    servers = resolve_one("kafka", kafka, home) if manifest.inputs.get("source", "kafka") == "kafka" else None
    with _bar() as bar:
        total = int(manifest.inputs.get("events", {}).get("count", 0)) + int(manifest.inputs.get("labels", {}).get("count", 0))
        task = bar.add_task(f"verify {run}", total=total or None, rate=0.0)
        report, _ = verify_run(manifest, lambda cfg: Codecs.build(cfg, reg), backend, db, kafka=servers,
                               batch_size=batch_size, progress=_progress_cb(bar, task))
    for line in report.lines():
        typer.echo(line)
    if not report.identical:
        raise typer.Exit(1)
