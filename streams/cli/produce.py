"""`eddy produce -c CONFIG --topic events|labels FILE`: validate, encode and publish records."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas import SchemaError, load_builtin, read_records
from streams.cli.options import ConfigOpt, HomeOpt, KafkaOpt, RegistryOpt, config, fail, home_of
from streams.endpoints import resolve_one
from streams.exceptions import StreamsError
from streams.kafka_io import ensure_topics, make_producer
from streams.pacing import pace
from streams.row_rules import row_checker
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
    strict: Annotated[bool, typer.Option("--strict", help="Check the whole file first and send nothing if any row is rejected (exit 1).")] = False,
    rate: Annotated[float, typer.Option(help="Events per second to offer (0 = as fast as possible).")] = 0.0,
) -> None:
    """Publish a file to <p>.events or <p>.labels; rows that break the schema or the config's rules
    (labels: a value the task cannot learn) are rejected, reported with line numbers, not sent."""
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
    check = row_checker(cfg, attr)

    def rows() -> Iterator[tuple[int, dict[str, Any] | None, bytes | None, str | None]]:
        """(line, record, encoded value, None) per accepted row, (line, None, None, reason) per rejected one."""
        for row in read_records(file, fmt, schema):
            if row.error is not None:
                yield row.line_no, None, None, row.error
                continue
            value = codecs.encode(attr, row.record)
            problem = check(row.record, value)
            if problem is not None:
                yield row.line_no, None, None, problem
            else:
                yield row.line_no, row.record, value, None

    def each_row(description: str, accept: Callable[[dict[str, Any], bytes], None] | None = None) -> tuple[int, int]:
        """Walk the file with a progress bar, printing the rejected rows; `accept(record, value)`
        each accepted one (paced at `rate` per second). Returns (accepted, rejected)."""
        done = rejected = 0
        t0 = time.perf_counter()
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]:,.0f}/s"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(description, total=_count_lines(file), rate=0.0)
            for line_no, record, value, error in rows():
                if error is not None:
                    rejected += 1
                    console.print(f"[red]line {line_no}: rejected: {error}[/red]")
                else:
                    done += 1
                    if accept is not None:
                        accept(record, value)
                        pace(done, rate, t0)
                if (done + rejected) % 500 == 0:
                    bar.update(task, completed=done + rejected, rate=done / max(time.perf_counter() - t0, 1e-9))
            bar.update(task, completed=done + rejected, rate=done / max(time.perf_counter() - t0, 1e-9))
        return done, rejected

    if strict:  # nothing is sent unless every row passes: a fixed file can be sent again whole
        try:
            _ok, rejected = each_row(f"checking {file.name}")
        except (SchemaError, StreamsError) as exc:
            fail(exc)
        if rejected:
            console.print(f"[red]rejected {rejected} row(s); sent nothing to {topic_name} (--strict)[/red]")
            raise typer.Exit(1)
    try:
        ensure_topics(kafka_servers, cfg.topics.layout())
    except StreamsError as exc:
        fail(exc)
    producer = make_producer(kafka_servers)
    try:
        sent, rejected = each_row(f"{file.name} -> {topic_name}", lambda record, value: producer.send(
            topic_name, str(record.get(key_field, "")).encode(), value))
        producer.flush()
    except (SchemaError, StreamsError) as exc:
        fail(exc)
    finally:
        producer.close()
    console.print(f"sent {sent} record(s) to {topic_name}; rejected {rejected}")


def _count_lines(path: Path) -> int | None:
    if path.suffix in (".jsonl", ".json", ".csv"):
        with open(path, "rb") as f:
            n = sum(1 for _ in f)
        return n - 1 if path.suffix == ".csv" else n
    return None
