"""`eddy dlq ls|show|export|replay`: inspect the dead-letter queue and re-publish repaired records.

    eddy dlq ls -c CONFIG                          counts by error class + the newest letters
    eddy dlq show -c CONFIG 1234 [--partition 0]   one letter: reason, position, payload, hex dump
    eddy dlq show -c CONFIG --error-class rule_violation      the newest letter of a class
    eddy dlq export -c CONFIG --error-class rule_violation -o fix.jsonl   decodable records
    eddy dlq replay -c CONFIG --error-class schema_mismatch   re-publish the original bytes
    eddy dlq replay -c CONFIG --fix fix.jsonl                 publish corrected records

Letters are read from the ClickHouse `dlq` table (default) or, with `--from topic`, from the
`<p>.dlq` topic itself. See docs/dlq.md.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from schemas import AvroCodec, SchemaError, load_builtin
from streams.cli.options import ClickhouseOpt, ConfigOpt, HomeOpt, KafkaOpt, RegistryOpt, config, fail, home_of
from streams.dlq_io import (
    ClickHouseDlq,
    DeadLetter,
    DlqSource,
    ReplayReport,
    Selection,
    TopicDlq,
    choose_for_replay,
    describe,
    export_records,
    replay_as_is,
    replay_fixed,
    to_jsonable,
)
from streams.endpoints import resolve_one
from streams.exceptions import StreamsError
from streams.row_rules import row_checker

app = typer.Typer(no_args_is_help=True, help="Inspect the dead-letter queue and replay repaired records.")
out = Console()
err = Console(stderr=True)


class From(str, Enum):
    clickhouse = "clickhouse"
    topic = "topic"


class Target(str, Enum):
    events = "events"
    labels = "labels"


FromOpt = Annotated[From, typer.Option("--from", help="Read letters from the ClickHouse dlq table or the <p>.dlq topic.")]
ClassOpt = Annotated[str | None, typer.Option("--error-class", "-e", help="Only this error class (see docs/dlq.md).")]
PartitionOpt = Annotated[int | None, typer.Option("--partition", "-p", help="Source partition.")]
SourceOpt = Annotated[str | None, typer.Option("--source-topic", help="Source topic (default: any of the pipeline's).")]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


class _Ctx:
    """Config, codecs and a letter source, built lazily from the shared options."""

    def __init__(self, config_path: Path, source: From, kafka: str | None, clickhouse: str | None,
                 home: Path | None, registry: str | None) -> None:
        from streams.wiring import Codecs, schema_registry

        self.cfg = config(config_path)
        self.home = home_of(home)
        self.kafka_arg = kafka
        self.codecs = Codecs.build(self.cfg, schema_registry(registry, self.home))
        self.reader = self.codecs.event_schema
        if source is From.topic:
            # Eddy's own records: no input size limit (a letter wrapping an oversized message is big).
            own = AvroCodec(self.codecs.codec.registry)
            self.source: DlqSource = TopicDlq(self.kafka, self.cfg.topics.dlq, own, self.cfg.pipeline)
        else:
            from analytics import connect

            self.source = ClickHouseDlq(connect(resolve_one("clickhouse", clickhouse, self.home), readonly=True),
                                        self.cfg.pipeline, self.cfg.sink.database)

    @property
    def kafka(self) -> str:
        return resolve_one("kafka", self.kafka_arg, self.home)

    def reader_for(self, dl: DeadLetter) -> dict | None:
        t = self.cfg.topics
        return self.reader if dl.source_topic == t.events else load_builtin("label") if dl.source_topic == t.labels else None


def _open(config_path: Path, source: From, kafka: str | None, clickhouse: str | None, home: Path | None,
          registry: str | None) -> _Ctx:
    try:
        return _Ctx(config_path, source, kafka, clickhouse, home, registry)
    except (StreamsError, SchemaError) as exc:
        fail(exc)
        raise  # unreachable: fail exits


def _query(fn, *args, **kwargs):  # noqa: ANN001, ANN202 - thin error wrapper
    try:
        return fn(*args, **kwargs)
    except (StreamsError, SchemaError) as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 - analytics/Kafka errors carry the server's message
        fail(RuntimeError(f"{type(exc).__name__}: {exc}"))


def _cut(s: str, n: int) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


@app.command("ls")
def ls(
    config_path: ConfigOpt,
    source: FromOpt = From.clickhouse,
    error_class: ClassOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many recent letters to list.")] = 20,
    kafka: KafkaOpt = None,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Counts by error class, then the most recent letters."""
    ctx = _open(config_path, source, kafka, clickhouse, home, registry)
    counts = _query(ctx.source.counts)
    now = _now_ms()
    if not counts:
        out.print(f"the DLQ of {ctx.cfg.pipeline} is empty ({source.value})")
        return
    t = Table(title=f"dead letters of {ctx.cfg.pipeline} ({source.value})")
    for col, just in (("error class", "left"), ("count", "right"), ("newest", "left"), ("example reason", "left")):
        t.add_column(col, justify=just)
    for c in counts:
        t.add_row(c.error_class, f"{c.count:,}", _when(c.last_ts), _cut(c.example, 80))
    t.add_row("[bold]total[/bold]", f"[bold]{sum(c.count for c in counts):,}[/bold]", "", "")
    out.print(t)
    recent = _query(ctx.source.records, Selection(error_class=error_class), limit=limit, newest_first=True)
    r = Table(title=f"{len(recent)} most recent" + (f" {error_class}" if error_class else ""))
    for col in ("when", "source topic", "part", "offset", "error class", "bytes", "reason"):
        r.add_column(col, justify="right" if col in ("part", "offset", "bytes") else "left")
    for d in recent:
        r.add_row(d.age_text(now), d.source_topic, str(d.partition), str(d.offset), d.error_class, str(len(d.value)),
                  _cut(d.reason, 70))
    out.print(r)


@app.command("show")
def show(
    config_path: ConfigOpt,
    offset: Annotated[int | None, typer.Argument(help="Source offset of the letter (see `eddy dlq ls`).")] = None,
    partition: PartitionOpt = None,
    source_topic: SourceOpt = None,
    error_class: ClassOpt = None,
    source: FromOpt = From.clickhouse,
    max_bytes: Annotated[int, typer.Option("--bytes", help="Hex-dump at most this many bytes (0 = all).")] = 512,
    as_json: Annotated[bool, typer.Option("--json", help="Print the letter as one JSON object.")] = False,
    kafka: KafkaOpt = None,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """One letter: reason, source position, decoded payload if possible, hex dump.

    Pick it by source OFFSET (plus --partition/--source-topic if several match), or show the
    newest letter of --error-class.
    """
    from streams.dlq_io import hexdump

    if offset is None and error_class is None:
        fail(StreamsError("say which letter: an OFFSET (from `eddy dlq ls`) or --error-class CLASS"))
    ctx = _open(config_path, source, kafka, clickhouse, home, registry)
    sel = Selection(error_class=error_class, offset=offset, partition=partition, source_topic=source_topic)
    found = _query(ctx.source.records, sel, limit=None if offset is not None else 1, newest_first=True)
    if not found:
        fail(StreamsError(f"no dead letter of {ctx.cfg.pipeline} matches {_sel_text(sel)}; list them with `eddy dlq ls`"))
    if len(found) > 1:
        err.print(f"[yellow]{len(found)} letters match {_sel_text(sel)}; showing all "
                  f"(narrow with --partition / --source-topic)[/yellow]")
    now = _now_ms()
    for i, dl in enumerate(found):
        d = describe(dl, ctx.codecs.codec, ctx.reader_for(dl))
        if as_json:
            sys.stdout.write(json.dumps({
                "source_topic": dl.source_topic, "partition": dl.partition, "offset": dl.offset,
                "error_class": dl.error_class, "reason": dl.reason, "ts": dl.ts, "schema_id": dl.schema_id,
                "key": to_jsonable(dl.key), "value_hex": dl.value.hex(), "header": d.header,
                "record": to_jsonable(d.record), "decoded_with": d.decoded_with, "decode_error": d.decode_error,
            }, ensure_ascii=False, default=str) + "\n")
            continue
        if i:
            out.rule()
        out.print(f"[bold]dead letter[/bold]  {dl.source_topic}  partition {dl.partition}  offset {dl.offset}")
        out.print(f"[bold]error class[/bold]  [red]{dl.error_class}[/red]")
        out.print("[bold]reason[/bold]       ", end="")
        out.print(dl.reason, markup=False, highlight=False)
        out.print(f"[bold]when[/bold]         {_when(dl.ts)} ({dl.age_text(now)})")
        out.print("[bold]key[/bold]          ", end="")
        out.print(repr(dl.key), markup=False, highlight=False)
        out.print(f"[bold]value[/bold]        {len(dl.value)} bytes: {d.header}")
        if d.record is not None:
            out.print(f"[bold]decoded[/bold] with the {d.decoded_with}:")
            out.print_json(json.dumps(to_jsonable(d.record), ensure_ascii=False, default=str))
            for note in d.notes:
                out.print(f"[yellow]note:[/yellow] {note}")
        else:
            out.print("[bold]not decodable[/bold]: ", end="")
            out.print(d.decode_error, markup=False, highlight=False)
        out.print("[bold]hex[/bold]")
        out.print(hexdump(dl.value, None if max_bytes <= 0 else max_bytes), markup=False, highlight=False)


def _sel_text(sel: Selection) -> str:
    parts = [f"{k}={v}" for k, v in (("error_class", sel.error_class), ("offset", sel.offset),
                                      ("partition", sel.partition), ("source_topic", sel.source_topic)) if v is not None]
    return ", ".join(parts) or "anything"


@app.command("export")
def export(
    config_path: ConfigOpt,
    error_class: ClassOpt = None,
    partition: PartitionOpt = None,
    source_topic: SourceOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="JSON-lines file (default: stdout).")] = None,
    source: FromOpt = From.clickhouse,
    kafka: KafkaOpt = None,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Write the decodable letters' records as JSON lines: fix them, then `eddy dlq replay --fix`."""
    ctx = _open(config_path, source, kafka, clickhouse, home, registry)
    sel = Selection(error_class=error_class, partition=partition, source_topic=source_topic or ctx.cfg.topics.events)
    letters = _query(ctx.source.records, sel)
    f = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    try:
        n, skipped = export_records(letters, ctx.codecs.codec, ctx.reader, f)
    finally:
        if output:
            f.close()
    err.print(f"exported {n} record(s)" + (f" to {output}" if output else "")
              + (f"; {len(skipped)} letter(s) hold no decodable record (see `eddy dlq show`)" if skipped else ""))


@app.command("replay")
def replay(
    config_path: ConfigOpt,
    error_class: ClassOpt = None,
    offset: Annotated[list[int] | None, typer.Option("--offset", help="Only these source offsets (repeatable).")] = None,
    partition: PartitionOpt = None,
    source_topic: SourceOpt = None,
    fix: Annotated[Path | None, typer.Option("--fix", help="JSON lines (or CSV/Avro) of corrected records to publish instead of the letters' bytes.")] = None,
    topic: Annotated[Target, typer.Option("--topic", "-t", help="With --fix: the input topic the corrected records go to.")] = Target.events,
    source: FromOpt = From.clickhouse,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be sent; send nothing.")] = False,
    kafka: KafkaOpt = None,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Re-publish dead letters to their source topic, as they are (after a schema or rule fix)
    or, with --fix FILE, as corrected records encoded with the pipeline's schema.

    Without --error-class, duplicates are left out (sent again they are dead-lettered again).
    A replayed record that still fails is dead-lettered again under its new offset.
    """
    from streams.kafka_io import ensure_topics, make_producer

    ctx = _open(config_path, source, kafka, clickhouse, home, registry)
    report = ReplayReport()
    if fix is not None:
        if error_class or offset or partition is not None or source_topic:
            err.print("[yellow]--fix publishes the file's records; the letter filters are ignored[/yellow]")
        attr = topic.value
        schema = ctx.reader if topic is Target.events else load_builtin("label")
        key_field = ctx.cfg.event.key_field if topic is Target.events else "event_id"
        dest = getattr(ctx.cfg.topics, attr)
        check = row_checker(ctx.cfg, attr)  # the rules too: a fixed row that still breaks one is reported
        encode = partial(ctx.codecs.encode, attr)
        if dry_run:
            replay_fixed(fix, dest, encode, key_field, schema, None, report, check)
        else:
            producer = _query(make_producer, ctx.kafka)
            _query(ensure_topics, ctx.kafka, ctx.cfg.topics.layout())
            _query(replay_fixed, fix, dest, encode, key_field, schema, producer, report, check)
    else:
        letters: list[DeadLetter] = []
        offsets = offset or [None]
        for off in offsets:
            sel = Selection(error_class=error_class, offset=off, partition=partition, source_topic=source_topic)
            letters += _query(ctx.source.records, sel)
        inputs = (ctx.cfg.topics.events, ctx.cfg.topics.labels)
        go, left = choose_for_replay(letters, inputs, error_class)
        report.skipped = left
        if dry_run:
            for dl in go:
                report.sent[dl.source_topic] += 1
        elif go:
            producer = _query(make_producer, ctx.kafka)
            _query(replay_as_is, go, producer, report)
    for line_no, why in report.rejected:
        err.print(f"[red]line {line_no}: rejected: {why}[/red]", markup=True, highlight=False)
    left_by_why: dict[str, int] = {}
    for _where, why in report.skipped:
        left_by_why[why] = left_by_why.get(why, 0) + 1
    for why, n in left_by_why.items():
        err.print(f"left {n} letter(s): {why}")
    verb = "would send" if dry_run else "sent"
    sent = ", ".join(f"{n} to {t}" for t, n in sorted(report.sent.items())) or "nothing"
    out.print(f"{verb} {sent}" + (f"; rejected {len(report.rejected)} row(s) of {fix}" if report.rejected else ""))
    if report.rejected and not report.total:
        raise typer.Exit(1)
