"""Read, explain and re-publish dead letters: the library behind `eddy dlq ls|show|export|replay`.

Dead letters come from one of two places, with the same interface:

- `ClickHouseDlq(backend, pipeline)`: the `dlq` table (default; deduplicated by source position,
  queried with SQL, so a large DLQ is summarized on the server);
- `TopicDlq(kafka, topic, codec, pipeline)`: the `<p>.dlq` topic itself, read from the beginning
  (works while ClickHouse is down or before the sink caught up).

`describe(letter, codec, reader_schema)` says what is inside a letter (header, decoded record
when possible, hex dump). `replay_as_is(...)` re-publishes the original bytes to their source
topic (after a schema or rule fix); `replay_fixed(...)` publishes corrected records read from a
JSON-lines file, validated and encoded with the pipeline's schema.

>>> dl = DeadLetter("p", "p.events", 0, 7, b"k", b"\\x01oops", "bad_magic", "first byte is 0x01", 1_700_000_000_000)
>>> dl.position, dl.age_text(1_700_000_090_000)
(('p.events', 0, 7), '1m30s ago')
>>> print(hexdump(b"\\x00\\x00\\x00\\x00\\x01\\x02hello"))
00000000  00 00 00 00 01 02 68 65  6c 6c 6f                 |......hello|
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from schemas import AvroCodec, DecodeError, SchemaError, read_header, read_records

#: Classes that are not re-published by a replay without an explicit --error-class: a duplicate
#: sent again is dead-lettered again (its event id was already scored).
NOT_REPLAYED_BY_DEFAULT = frozenset({"duplicate"})


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message (a `DlqRecord`), with its original key and value bytes."""

    pipeline: str
    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    error_class: str
    reason: str
    ts: int
    schema_id: int | None = None

    @property
    def position(self) -> tuple[str, int, int]:
        """(source topic, partition, offset): a letter's identity."""
        return (self.source_topic, self.partition, self.offset)

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> DeadLetter:
        """From a decoded `DlqRecord` (the `<p>.dlq` topic)."""
        return cls(rec["pipeline"], rec["source_topic"], int(rec["partition"]), int(rec["offset"]), rec.get("key"),
                   bytes(rec["value"]), rec["error_class"], rec["reason"], int(rec["ts"]), rec.get("schema_id"))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DeadLetter:
        """From a `dlq` table row (key/value as base64; an empty key column is a null key)."""
        key = base64.b64decode(row["key"]) if row.get("key") else None
        sid = row.get("schema_id")
        return cls(row["pipeline"], row["source_topic"], int(row["partition"]), int(row["offset"]), key,
                   base64.b64decode(row["value"] or ""), row["error_class"], row["reason"], int(row["ts"]),
                   None if sid is None else int(sid))

    def age_text(self, now_ms: int) -> str:
        """How long ago it was dead-lettered, e.g. '3m12s ago'."""
        s = max(0, (now_ms - self.ts) // 1000)
        d, s = divmod(s, 86400)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (d or h or m) else ""]
        return "".join(parts[:2] if d else parts) + " ago"


@dataclass(frozen=True)
class ClassCount:
    """How many letters of one error class, the newest one's time and an example reason."""

    error_class: str
    count: int
    last_ts: int
    example: str


@dataclass(frozen=True)
class Selection:
    """Which letters: by error class and/or source position (None = any)."""

    error_class: str | None = None
    offset: int | None = None
    partition: int | None = None
    source_topic: str | None = None
    since_ms: int | None = None

    def matches(self, dl: DeadLetter) -> bool:
        return ((self.error_class is None or dl.error_class == self.error_class)
                and (self.offset is None or dl.offset == self.offset)
                and (self.partition is None or dl.partition == self.partition)
                and (self.source_topic is None or dl.source_topic == self.source_topic)
                and (self.since_ms is None or dl.ts >= self.since_ms))


class DlqSource(Protocol):
    """Where dead letters are read from."""

    def counts(self) -> list[ClassCount]: ...

    def records(self, selection: Selection = Selection(), limit: int | None = None,
                newest_first: bool = False) -> list[DeadLetter]: ...


def _quote(s: str) -> str:
    """A ClickHouse string literal.

    >>> _quote("it's")
    "'it\\\\'s'"
    """
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ClickHouseDlq:
    """Dead letters in the ClickHouse `dlq` table of `database` (rows deduplicated with FINAL)."""

    COLUMNS = ("pipeline, source_topic, `partition`, `offset`, key, value, error_class, reason, "
               "toUnixTimestamp64Milli(ts) AS ts, schema_id")

    def __init__(self, backend: Any, pipeline: str, database: str = "eddy") -> None:
        self.backend = backend
        self.pipeline = pipeline
        self.table = f"{database}.dlq"

    def _where(self, sel: Selection) -> str:
        conds = [f"pipeline = {_quote(self.pipeline)}"]
        if sel.error_class is not None:
            conds.append(f"error_class = {_quote(sel.error_class)}")
        if sel.offset is not None:
            conds.append(f"`offset` = {int(sel.offset)}")
        if sel.partition is not None:
            conds.append(f"`partition` = {int(sel.partition)}")
        if sel.source_topic is not None:
            conds.append(f"source_topic = {_quote(sel.source_topic)}")
        if sel.since_ms is not None:
            conds.append(f"ts >= fromUnixTimestamp64Milli({int(sel.since_ms)}, 'UTC')")
        return " AND ".join(conds)

    def counts(self) -> list[ClassCount]:
        rows = self.backend.query(
            f"SELECT error_class, count() AS n, toUnixTimestamp64Milli(max(ts)) AS last, any(reason) AS example "
            f"FROM {self.table} FINAL WHERE {self._where(Selection())} GROUP BY error_class ORDER BY n DESC, error_class")
        return [ClassCount(r["error_class"], int(r["n"]), int(r["last"]), r["example"]) for r in rows]

    def records(self, selection: Selection = Selection(), limit: int | None = None,
                newest_first: bool = False) -> list[DeadLetter]:
        order = "DESC" if newest_first else "ASC"
        sql = (f"SELECT {self.COLUMNS} FROM {self.table} FINAL WHERE {self._where(selection)} "
               f"ORDER BY ts {order}, source_topic {order}, `partition` {order}, `offset` {order}")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [DeadLetter.from_row(r) for r in self.backend.query(sql)]


class TopicDlq:
    """Dead letters read from the `<p>.dlq` topic (from the beginning, until it goes quiet).

    A letter published twice for the same source position (a worker redelivery) counts once,
    like the ClickHouse table; the last one wins.
    """

    def __init__(self, kafka: str, topic: str, codec: AvroCodec, pipeline: str,
                 read: Callable[[str, str], list] | None = None) -> None:
        self.kafka = kafka
        self.topic = topic
        self.codec = codec
        self.pipeline = pipeline
        self._read = read
        self._letters: list[DeadLetter] | None = None
        self.unreadable = 0  # messages on the DLQ topic that are not DlqRecords

    def _all(self) -> list[DeadLetter]:
        if self._letters is None:
            if self._read is None:
                from streams.kafka_io import read_topic

                self._read = read_topic
            by_pos: dict[tuple[str, int, int], DeadLetter] = {}
            for m in self._read(self.kafka, self.topic):
                try:
                    dl = DeadLetter.from_record(self.codec.decode(m.value))
                except (DecodeError, KeyError, TypeError):
                    self.unreadable += 1
                    continue
                if dl.pipeline == self.pipeline:
                    by_pos[dl.position] = dl
            self._letters = sorted(by_pos.values(), key=lambda d: (d.ts, d.position))
        return self._letters

    def counts(self) -> list[ClassCount]:
        return summarize(self._all())

    def records(self, selection: Selection = Selection(), limit: int | None = None,
                newest_first: bool = False) -> list[DeadLetter]:
        out = [d for d in self._all() if selection.matches(d)]
        if newest_first:
            out.reverse()
        return out[:limit] if limit is not None else out


def summarize(letters: Iterable[DeadLetter]) -> list[ClassCount]:
    """Counts by error class, most frequent first.

    >>> a = DeadLetter("p", "p.events", 0, 1, None, b"", "truncated", "empty message", 5)
    >>> b = DeadLetter("p", "p.events", 0, 2, None, b"x", "bad_magic", "first byte", 9)
    >>> [(c.error_class, c.count, c.last_ts) for c in summarize([a, b, a])]
    [('truncated', 2, 5), ('bad_magic', 1, 9)]
    """
    n: Counter[str] = Counter()
    last: dict[str, int] = {}
    example: dict[str, str] = {}
    for d in letters:
        n[d.error_class] += 1
        last[d.error_class] = max(last.get(d.error_class, d.ts), d.ts)
        example.setdefault(d.error_class, d.reason)
    return [ClassCount(c, k, last[c], example[c]) for c, k in sorted(n.items(), key=lambda kv: (-kv[1], kv[0]))]


# ---------------------------------------------------------------------------------- inspecting
def hexdump(data: bytes, limit: int | None = 512) -> str:
    """`xxd`-style dump (offset, 16 hex bytes, printable ASCII); cut after `limit` bytes.

    >>> hexdump(b"")
    '(empty)'
    >>> hexdump(bytes(range(40)), limit=16).splitlines()[-1]
    '... 24 more bytes'
    """
    if not data:
        return "(empty)"
    shown = data if limit is None else data[:limit]
    lines = []
    for i in range(0, len(shown), 16):
        chunk = shown[i:i + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {hexes:<49} |{text}|")
    if len(data) > len(shown):
        lines.append(f"... {len(data) - len(shown)} more bytes")
    return "\n".join(lines)


@dataclass
class Description:
    """What `eddy dlq show` prints about one letter."""

    letter: DeadLetter
    header: str
    record: dict[str, Any] | None = None   # decoded payload, when possible
    decoded_with: str = ""                 # "pipeline schema", "writer schema (...)" or ""
    decode_error: str | None = None
    notes: list[str] = field(default_factory=list)


def lenient(codec: AvroCodec) -> AvroCodec:
    """A codec on the same registry that lets NaN/inf through (to show and export such records)."""
    return AvroCodec(codec.registry, check_finite=False)


def describe(letter: DeadLetter, codec: AvroCodec, reader_schema: dict | None = None) -> Description:
    """Explain a letter: its header, and its record decoded with the pipeline's schema if it can
    be, else with its own writer schema (NaN/inf allowed), else why not."""
    v = letter.value
    if not v:
        header = "empty value (a tombstone or an empty message)"
    elif v[0] != 0:
        header = f"no Confluent header: first byte 0x{v[0]:02x}"
        if v[:1] in (b"{", b"["):
            header += " (looks like JSON text)"
    elif len(v) < 5:
        header = f"magic 0x00 but only {len(v)} byte(s): no complete schema id"
    else:
        header = f"magic 0x00, schema id {read_header(v)}, {len(v) - 5} byte(s) of Avro body"
    desc = Description(letter, header)
    loose = lenient(codec)
    errors = []
    for label, reader in (("pipeline schema", reader_schema), ("writer schema", None)):
        if label == "pipeline schema" and reader is None:
            continue
        try:
            desc.record = loose.decode(v, reader)
            desc.decoded_with = label if reader is not None else f"writer schema (id {read_header(v)})"
            break
        except DecodeError as exc:
            errors.append(f"{label}: {exc}")
        except SchemaError as exc:  # registry trouble: say so, keep going
            errors.append(f"{label}: {exc}")
    if desc.record is None:
        reasons = [e.split(": ", 1)[1] for e in errors]
        desc.decode_error = reasons[0] if len(set(reasons)) == 1 else "; ".join(errors) or "not decodable"
    else:
        bad = [k for k, x in desc.record.items() if isinstance(x, float) and not math.isfinite(x)]
        if bad:
            desc.notes.append(f"non-finite value(s) in {', '.join(bad)}")
    return desc


def to_jsonable(rec: Any) -> Any:
    """A decoded record as JSON-ready values (bytes as text when UTF-8, else base64).

    >>> to_jsonable({"a": b"hi", "b": [1.5, float("nan")]})
    {'a': 'hi', 'b': [1.5, nan]}
    """
    if isinstance(rec, dict):
        return {k: to_jsonable(v) for k, v in rec.items()}
    if isinstance(rec, (list, tuple)):
        return [to_jsonable(v) for v in rec]
    if isinstance(rec, (bytes, bytearray)):
        try:
            return bytes(rec).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(rec)).decode("ascii")
    return rec


def export_records(letters: Iterable[DeadLetter], codec: AvroCodec, reader_schema: dict | None,
                   out: Any) -> tuple[int, list[DeadLetter]]:
    """Write the decodable letters' records as JSON lines to `out` (a text file) for repair.

    Returns (records written, letters that could not be decoded). The file, once corrected, is
    what `replay_fixed` (`eddy dlq replay --fix FILE`) takes.
    """
    n, skipped = 0, []
    for dl in letters:
        d = describe(dl, codec, reader_schema)
        if d.record is None:
            skipped.append(dl)
            continue
        out.write(json.dumps(to_jsonable(d.record), ensure_ascii=False) + "\n")
        n += 1
    return n, skipped


# ---------------------------------------------------------------------------------- replaying
class Sender(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes) -> None: ...

    def flush(self, timeout: float = 60.0) -> None: ...


@dataclass
class ReplayReport:
    """What a replay did."""

    sent: Counter = field(default_factory=Counter)           # topic -> messages
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # fix file (line, error)

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def choose_for_replay(letters: Sequence[DeadLetter], replayable_topics: Iterable[str],
                      error_class: str | None) -> tuple[list[DeadLetter], list[tuple[str, str]]]:
    """The letters an as-is replay re-publishes, and the ones it leaves (with why).

    Only letters whose source is one of `replayable_topics` (the pipeline's events and labels
    topics) go back; without an explicit `error_class`, duplicates stay where they are.

    >>> a = DeadLetter("p", "p.events", 0, 1, None, b"x", "bad_magic", "r", 1)
    >>> b = DeadLetter("p", "p.events", 0, 2, None, b"y", "duplicate", "r", 1)
    >>> c = DeadLetter("p", "p.scores", 0, 3, None, b"z", "sink_decode", "r", 1)
    >>> go, left = choose_for_replay([a, b, c], ["p.events"], None)
    >>> [d.offset for d in go], [why for _, why in left]
    ([1], ['duplicate: sent again it is dead-lettered again (pass --error-class duplicate to force)', 'source p.scores is not an input topic of the pipeline'])
    """
    allowed = set(replayable_topics)
    go, left = [], []
    for dl in letters:
        where = f"{dl.source_topic}/{dl.partition}/{dl.offset}"
        if dl.source_topic not in allowed:
            left.append((where, f"source {dl.source_topic} is not an input topic of the pipeline"))
        elif error_class is None and dl.error_class in NOT_REPLAYED_BY_DEFAULT:
            left.append((where, (f"{dl.error_class}: sent again it is dead-lettered again "
                                f"(pass --error-class {dl.error_class} to force)")))
        else:
            go.append(dl)
    return go, left


def replay_as_is(letters: Sequence[DeadLetter], producer: Sender, report: ReplayReport | None = None) -> ReplayReport:
    """Re-publish each letter's original key and value bytes to its source topic, in order."""
    report = report or ReplayReport()
    for dl in letters:
        producer.send(dl.source_topic, dl.key, dl.value)
        report.sent[dl.source_topic] += 1
    producer.flush()
    return report


def replay_fixed(path: Path, topic: str, encode: Callable[[dict], bytes], key_field: str, schema: dict,
                 producer: Sender | None, report: ReplayReport | None = None,
                 check: Callable[[dict, bytes], str | None] | None = None) -> ReplayReport:
    """Publish corrected records from a JSON-lines (or CSV/Avro) file to `topic`.

    Each row is validated against `schema` (the pipeline's event schema, or the label schema)
    and by `check` (e.g. `streams.row_rules.row_checker`: the config's rules); rejected rows are
    reported with their line numbers and not sent. The message key is the record's `key_field`,
    as `eddy produce` does. Without a `producer` nothing is sent (a dry run: the report says
    what would be).
    """
    report = report or ReplayReport()
    for row in read_records(path, None, schema):
        if row.error is not None:
            report.rejected.append((row.line_no, str(row.error)))
            continue
        value = encode(row.record)
        problem = check(row.record, value) if check is not None else None
        if problem is not None:
            report.rejected.append((row.line_no, problem))
            continue
        if producer is not None:
            producer.send(topic, str(row.record.get(key_field, "")).encode(), value)
        report.sent[topic] += 1
    if producer is not None:
        producer.flush()
    return report

