"""`eddy produce -c CONFIG --topic events|labels FILE`: validate, encode and publish records."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas import SchemaError, load_builtin, read_records
from streams.cli.options import ConfigOpt, HomeOpt, KafkaOpt, RegistryOpt, config, fail, home_of
from streams.endpoints import resolve_one
from streams.exceptions import StreamsError
from streams.kafka_io import ensure_topics, make_producer
from streams.wiring import Codecs, schema_registry

console = Console(stderr=True)


class Target(str, Enum):
    events = "events"
    labels = "labels"


def produce(
    file: Annotated[Path, typer.Argument(help="JSON lines, CSV or Avro container file.")],
    config_path: ConfigOpt,
    topic: Annotated[Target, typer.Option("--topic", "-t", help="Which input topic of the pipeline.")] = Target.events,
    kafka: KafkaOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl | csv | avro (default: from the suffix).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first rejected row.")] = False,
    rate: Annotated[float, typer.Option(help="Events per second to offer (0 = as fast as possible).")] = 0.0,
) -> None:
    """Publish a file to <p>.events or <p>.labels; rejected rows are reported with line numbers."""
    try:
        cfg = config(config_path)
        kafka_servers = resolve_one("kafka", kafka, home_of(home))
        codecs = Codecs.build(cfg, schema_registry(registry, home_of(home)))
    except StreamsError as exc:
        fail(exc)
        return
    schema = codecs.event_schema if topic is Target.events else load_builtin("label")
    attr = "events" if topic is Target.events else "labels"
    topic_name = getattr(cfg.topics, attr)
    key_field = cfg.event.key_field if topic is Target.events else "event_id"
    try:
        ensure_topics(kafka_servers, cfg.topics.layout())
    except StreamsError as exc:
        fail(exc)
    producer = make_producer(kafka_servers)
    sent = rejected = 0
    t0 = time.perf_counter()
    try:
        rows = read_records(file, fmt, schema)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]:,.0f}/s"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{file.name} -> {topic_name}", total=_count_lines(file), rate=0.0)
            for row in rows:
                if row.error is not None:
                    rejected += 1
                    console.print(f"[red]line {row.line_no}: rejected: {row.error}[/red]")
                    if strict:
                        raise typer.Exit(1)
                else:
                    value = codecs.encode(attr, row.record)
                    producer.send(topic_name, str(row.record.get(key_field, "")).encode(), value)
                    sent += 1
                    if rate > 0:
                        ahead = sent / rate - (time.perf_counter() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
                if (sent + rejected) % 500 == 0:
                    bar.update(task, completed=sent + rejected, rate=sent / max(time.perf_counter() - t0, 1e-9))
            producer.flush()
            bar.update(task, completed=sent + rejected, rate=sent / max(time.perf_counter() - t0, 1e-9))
    except (SchemaError, StreamsError) as exc:
        fail(exc)
    finally:
        producer.close()
    console.print(f"sent {sent} record(s) to {topic_name}; rejected {rejected}")
    if rejected and strict:
        raise typer.Exit(1)


def _count_lines(path: Path) -> int | None:
    if path.suffix in (".jsonl", ".json", ".csv"):
        with open(path, "rb") as f:
            n = sum(1 for _ in f)
        return n - 1 if path.suffix == ".csv" else n
    return None
