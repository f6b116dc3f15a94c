"""Read a replay's inputs from Kafka or from the ClickHouse archive, and describe them.

A `Selection` says which events to take: an event-time range ``[from_ms, to_ms)`` and/or, per
events-topic partition, an offset range ``[first, last]`` (inclusive). Labels: all labels of the
labels topic (or table), or only the labels of the selected events when a range was given. The
returned `Inputs.description` goes into the run manifest; `Selection.from_description` turns it
back into the exact same selection (``--verify`` and ``--like``).

>>> parse_bound("1700000000000"), parse_bound("2023-11-14T22:13:20Z")
(1700000000000, 1700000000000)
>>> parse_bound("0:10,1:5")
{0: 10, 1: 5}
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics.sqltext import literal
from schemas import read_header
from streams.config import PipelineConfig
from streams.exceptions import ReplayError
from streams.label_rules import LABEL_SCHEMA, label_failure
from streams.replay.merge import Item
from streams.wiring import Codecs


def parse_bound(text: str) -> int | dict[int, int]:
    """``--from``/``--to``: ms since epoch, an ISO-8601 time (UTC if no zone), or ``P:O[,P:O]`` offsets."""
    text = text.strip()
    if ":" in text and all(part.strip().count(":") == 1 and part.replace(":", "").strip().isdigit()
                           for part in text.split(",")):
        return {int(p): int(o) for p, o in (part.split(":") for part in text.split(","))}
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ReplayError(f"cannot read {text!r} as a bound: use ms since epoch, ISO time "
                          "(2024-01-31T12:00:00Z) or partition:offset[,partition:offset]") from exc
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return round(t.timestamp() * 1000)


@dataclass(frozen=True)
class Selection:
    """Which events to replay (see the module doc); empty = everything."""

    from_ms: int | None = None
    to_ms: int | None = None
    offsets_from: dict[int, int] | None = None
    offsets_to: dict[int, int] | None = None  # inclusive
    labels_of_selected: bool = False
    partitions: frozenset[int] | None = None  # None: every partition

    @classmethod
    def from_bounds(cls, start: str | None, end: str | None) -> Selection:
        """From CLI ``--from``/``--to`` (offsets: from inclusive, to exclusive)."""
        a = parse_bound(start) if start else None
        b = parse_bound(end) if end else None
        ranged = a is not None or b is not None
        return cls(from_ms=a if isinstance(a, int) else None, to_ms=b if isinstance(b, int) else None,
                   offsets_from=a if isinstance(a, dict) else None,
                   offsets_to={p: o - 1 for p, o in b.items()} if isinstance(b, dict) else None,
                   labels_of_selected=ranged)

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> Selection:
        """The exact selection a manifest's ``inputs`` recorded."""
        parts = {int(p): (int(a), int(b)) for p, (a, b) in desc.get("events", {}).get("partitions", {}).items()}
        return cls(from_ms=desc.get("from_ms"), to_ms=desc.get("to_ms"),
                   offsets_from={p: a for p, (a, _) in parts.items()}, offsets_to={p: b for p, (_, b) in parts.items()},
                   labels_of_selected=bool(desc.get("labels", {}).get("of_selected_events", False)),
                   partitions=frozenset(parts)) if parts else cls(
            from_ms=desc.get("from_ms"), to_ms=desc.get("to_ms"),
            labels_of_selected=bool(desc.get("labels", {}).get("of_selected_events", False)))

    def keeps(self, partition: int, offset: int, ts: int) -> bool:
        if self.from_ms is not None and ts < self.from_ms:
            return False
        if self.to_ms is not None and ts >= self.to_ms:
            return False
        if self.partitions is not None and partition not in self.partitions:
            return False
        if self.offsets_from is not None and offset < self.offsets_from.get(partition, 0):
            return False
        return self.offsets_to is None or offset <= self.offsets_to.get(partition, 1 << 62)


@dataclass
class Inputs:
    """Decoded events and labels, undecodable events (kept for the count), and their description."""

    events: list[Item]
    labels: list[Item]
    undecodable: list[tuple[int, int, str]] = field(default_factory=list)
    description: dict[str, Any] = field(default_factory=dict)


def _positions(items: Iterable[Item]) -> dict[str, list[int]]:
    parts: dict[int, list[int]] = {}
    for it in items:
        lo_hi = parts.setdefault(it.partition, [it.offset, it.offset])
        lo_hi[0] = min(lo_hi[0], it.offset)
        lo_hi[1] = max(lo_hi[1], it.offset)
    return {str(p): v for p, v in sorted(parts.items())}


def _event_item(cfg: PipelineConfig, rec: dict, topic: str, partition: int, offset: int, key: bytes | None,
                value: bytes, fallback_ts: int) -> Item:
    ts = rec.get(cfg.event.time_field)
    ts = ts if isinstance(ts, int) and not isinstance(ts, bool) else fallback_ts
    return Item("event", ts, partition, offset, rec, topic, key, value)


def _describe(source: str, pipeline: str, events_topic: str, labels_topic: str, sel: Selection,
              events: list[Item], labels: list[Item], undecodable: list, writer_ids: set[int]) -> dict[str, Any]:
    ev_positions = _positions(events)
    for p, o, _ in undecodable:  # undecodable events are part of the range too
        lo_hi = ev_positions.setdefault(str(p), [o, o])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], o), max(lo_hi[1], o)
    return {
        "source": source, "pipeline": pipeline, "from_ms": sel.from_ms, "to_ms": sel.to_ms,
        "events": {"topic": events_topic, "partitions": dict(sorted(ev_positions.items(), key=lambda kv: int(kv[0]))),
                   "count": len(events), "undecodable": len(undecodable),
                   "first_ts": min((e.ts for e in events), default=None), "last_ts": max((e.ts for e in events), default=None)},
        "labels": {"topic": labels_topic, "partitions": _positions(labels), "count": len(labels),
                   "of_selected_events": sel.labels_of_selected},
        "writer_schema_ids": sorted(writer_ids),
    }


def _filter_labels(cfg: PipelineConfig, labels: list[Item], events: Sequence[Item], sel: Selection,
                   label_positions: dict[int, tuple[int, int]] | None) -> list[Item]:
    if label_positions is not None:
        labels = [lab for lab in labels if lab.partition in label_positions
                  and label_positions[lab.partition][0] <= lab.offset <= label_positions[lab.partition][1]]
    if sel.labels_of_selected:
        ids = {e.record.get(cfg.event.id_field) for e in events}
        labels = [lab for lab in labels if lab.record.get("event_id") in ids]
    return labels


def read_kafka(cfg: PipelineConfig, codecs: Codecs, servers: str, sel: Selection = Selection(), *,
               events_topic: str | None = None, labels_topic: str | None = None,
               label_positions: dict[int, tuple[int, int]] | None = None) -> Inputs:
    """Read the events and labels topics whole (group-less) and keep the selection."""
    from streams.kafka_io import read_topic

    events_topic = events_topic or cfg.topics.events
    labels_topic = labels_topic or cfg.topics.labels
    reader = codecs.event_schema
    events: list[Item] = []
    undecodable: list[tuple[int, int, str]] = []
    writer_ids: set[int] = set()
    msgs = read_topic(servers, events_topic)
    records, failures = codecs.inputs.decode_batch([m.value for m in msgs], reader)
    for m, rec, fail in zip(msgs, records, failures):
        if rec is None:
            if sel.keeps(m.partition, m.offset, m.timestamp):
                undecodable.append((m.partition, m.offset, fail.reason if fail is not None else "undecodable"))
            continue
        item = _event_item(cfg, rec, m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)
        if sel.keeps(m.partition, m.offset, item.ts):
            writer_ids.add(read_header(m.value))
            events.append(item)
    lmsgs = read_topic(servers, labels_topic)
    lrecs, _ = codecs.inputs.decode_batch([m.value for m in lmsgs], LABEL_SCHEMA)
    task = cfg.models.task
    # what the live learner dead-lettered: undecodable, or refused by streams.label_rules
    refused = [rec is None or label_failure(rec, task) is not None for rec in lrecs]
    labels = [Item("label", int(rec["ts"]), m.partition, m.offset, rec, m.topic, m.key, m.value)
              for m, rec, bad in zip(lmsgs, lrecs, refused) if not bad]
    labels = _filter_labels(cfg, labels, events, sel, label_positions)
    pipeline = events_topic[: -len(".events")] if events_topic.endswith(".events") else cfg.pipeline
    desc = _describe("kafka", pipeline, events_topic, labels_topic, sel, events, labels, undecodable, writer_ids)
    desc["labels"]["undecodable"] = sum(refused)  # the live learner dead-lettered them too
    return Inputs(events, labels, undecodable, desc)


def read_clickhouse(cfg: PipelineConfig, codecs: Codecs, backend: Any, db: str, sel: Selection = Selection(), *,
                    pipeline: str | None = None) -> Inputs:
    """Events from ``events_archive`` (original bytes, original positions) and labels from ``labels``."""
    p = literal(pipeline or cfg.pipeline)
    where = [f"pipeline = {p}"]
    if sel.from_ms is not None:
        where.append(f"toUnixTimestamp64Milli(event_ts) >= {int(sel.from_ms)}")
    if sel.to_ms is not None:
        where.append(f"toUnixTimestamp64Milli(event_ts) < {int(sel.to_ms)}")
    rows = backend.query(f"SELECT topic, `partition` AS p, `offset` AS o, payload, toUnixTimestamp64Milli(event_ts) AS ts "
                         f"FROM {db}.events_archive FINAL WHERE {' AND '.join(where)} ORDER BY p, o")
    rows = [r for r in rows if sel.keeps(int(r["p"]), int(r["o"]), int(r["ts"]))]
    values = [base64.b64decode(r["payload"]) for r in rows]
    reader = codecs.event_schema
    records, failures = codecs.inputs.decode_batch(values, reader)
    events: list[Item] = []
    undecodable: list[tuple[int, int, str]] = []
    writer_ids: set[int] = set()
    for r, v, rec, fail in zip(rows, values, records, failures):
        if rec is None:
            undecodable.append((int(r["p"]), int(r["o"]), fail.reason if fail is not None else "undecodable"))
            continue
        writer_ids.add(read_header(v))
        events.append(_event_item(cfg, rec, r["topic"], int(r["p"]), int(r["o"]), None, v, int(r["ts"])))
    # Ties in ts keep the labels topic's order, as from Kafka: the sink stores each label's position.
    # Rows without one (-1/-1: written before the positions were kept) come first among their ties,
    # by event id; the merge's sort is stable, so they keep this order.
    lrows = backend.query(f"SELECT event_id, label, toUnixTimestamp64Milli(label_ts) AS ts, source, "
                          f"`partition` AS p, `offset` AS o FROM {db}.labels FINAL "
                          f"WHERE pipeline = {p} ORDER BY ts, p, o, event_id")
    labels = [Item("label", int(r["ts"]), int(r["p"]), int(r["o"]),
                   {"event_id": r["event_id"], "label": float(r["label"]), "ts": int(r["ts"]), "source": r.get("source")},
                   "labels")
              for r in lrows]
    # rows written before the sink applied streams.label_rules may hold labels the learner refused
    labels = [lab for lab in labels if label_failure(lab.record, cfg.models.task) is None]
    labels = _filter_labels(cfg, labels, events, sel, None)
    desc = _describe("clickhouse", pipeline or cfg.pipeline, f"{db}.events_archive", f"{db}.labels", sel, events, labels, undecodable, writer_ids)
    return Inputs(events, labels, undecodable, desc)


def read_inputs(cfg: PipelineConfig, codecs: Codecs, source: str, sel: Selection, *, kafka: str | None = None,
                backend: Any = None, db: str = "eddy", like: dict[str, Any] | None = None) -> Inputs:
    """Dispatch on `source`; with `like` (a manifest's ``inputs``) read exactly what that run read."""
    if like is not None:
        source = like.get("source", source)
        sel = Selection.from_description(like)
    if source == "kafka":
        if not kafka:
            raise ReplayError("replaying from Kafka needs --kafka (or a running `eddy up` stack)")
        kw: dict[str, Any] = {}
        if like is not None:
            positions = {int(p): (int(a), int(b)) for p, (a, b) in like["labels"].get("partitions", {}).items()}
            kw = {"events_topic": like["events"]["topic"], "labels_topic": like["labels"]["topic"],
                  "label_positions": positions or None}  # a live run's manifest records no ranges: all
        return read_kafka(cfg, codecs, kafka, sel, **kw)
    if source == "clickhouse":
        if backend is None:
            raise ReplayError("replaying from the archive needs --clickhouse (or a running `eddy up` stack)")
        return read_clickhouse(cfg, codecs, backend, db, sel, pipeline=(like or {}).get("pipeline"))
    raise ReplayError(f"unknown source {source!r}: use kafka or clickhouse")
