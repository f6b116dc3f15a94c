"""Route decoded topic records to ClickHouse table rows for the analytics `Sink`.

| topic                  | table            |
|------------------------|------------------|
| `<p>.scores`           | `predictions`    |
| `<p>.shadow-scores`    | `predictions`    |
| `<p>.labels`           | `labels`         |
| `<p>.model-events`     | `model_events`   |
| `<p>.alerts`           | `alerts`         |
| `<p>.dlq`              | `dlq`            |
| `<p>.events`           | `events_archive` (original Avro bytes, for replay beyond retention) |

A record of Eddy's own the sink cannot decode or write is not dropped: it becomes a `dlq` row
naming the topic and offset. An input the score or learn agent dead-letters (undecodable, another
schema, a label `streams.label_rules` refuses, a time ClickHouse cannot hold) is skipped: its
dead letter is already on `<p>.dlq`, and one bad message never stops the sink.
"""

from __future__ import annotations

import logging
from typing import Any

from analytics.exceptions import BackendUnavailable, RowError
from schemas import read_header
from streams.config import PipelineConfig
from streams.label_rules import LABEL_SCHEMA, label_failure
from streams.wiring import Codecs

log = logging.getLogger("eddy.sink")


class SinkRouter:
    """Decode topic messages and hand rows to a `Sink` (batched, deduplicated by the sink)."""

    def __init__(self, config: PipelineConfig, codecs: Codecs, sink: Any) -> None:
        self.config = config
        self.codecs = codecs
        self.sink = sink
        t = config.topics
        self.tables = {t.scores: "predictions", t.shadow_scores: "predictions", t.labels: "labels",
                       t.model_events: "model_events", t.alerts: "alerts", t.dlq: "dlq", t.events: "events_archive"}
        self.rows_written = 0
        #: reader schemas of the inputs: a record of another schema fails to decode
        self.readers = {"events_archive": codecs.event_schema, "labels": LABEL_SCHEMA}

    def route(self, messages: list[tuple[str, int, int, bytes]], now_ms: int) -> None:
        """Decode `(topic, partition, offset, value)` messages and buffer their rows."""
        for topic, partition, offset, value in messages:
            table = self.tables.get(topic)
            if table is None:
                continue
            inputs = table in ("events_archive", "labels")  # the score / learn agent dead-letters bad ones
            try:
                rec = self.codecs.codec.decode(value, self.readers.get(table))
            except Exception as exc:  # noqa: BLE001 - any undecodable message becomes a DLQ row
                if not inputs:
                    self._dead_letter(topic, partition, offset, value, "sink_decode", f"sink could not decode: {exc}",
                                      now_ms)
                continue
            if table == "labels" and label_failure(rec, self.config.models.task) is not None:
                continue  # not learned either: dead-lettered by the learn agent
            try:
                self.sink.add(table, [self._row(table, rec, topic, partition, offset, value)], now_ms=now_ms)
            except (RowError, KeyError, TypeError, ValueError) as exc:  # a row ClickHouse cannot hold
                if inputs:
                    log.debug("not archived: %s:%d:%d (%s)", topic, partition, offset, exc)
                else:
                    self._dead_letter(topic, partition, offset, value, "sink_row", f"sink could not write: {exc}",
                                      now_ms)

    def _dead_letter(self, topic: str, partition: int, offset: int, value: bytes, error_class: str, reason: str,
                     now_ms: int) -> None:
        self.sink.add("dlq", [{"pipeline": self.config.pipeline, "source_topic": topic, "partition": partition,
                               "offset": offset, "key": None, "value": value, "error_class": error_class,
                               "reason": reason, "ts": now_ms, "schema_id": None}])

    def _row(self, table: str, rec: dict, topic: str, partition: int, offset: int, value: bytes) -> dict:
        p = self.config.pipeline
        if table == "predictions":
            return {**{k: rec[k] for k in ("run_id", "model", "model_version", "role", "shadow", "event_id", "key",
                                            "event_ts", "served_ts", "latency_ms", "prediction", "predicted_label",
                                            "features", "segments", "late", "degraded")}, "pipeline": p}
        if table == "labels":
            return {"pipeline": p, "event_id": rec["event_id"], "label": rec["label"], "label_ts": rec["ts"],
                    "source": rec.get("source"), "partition": partition, "offset": offset}
        if table == "events_archive":
            ev = self.config.event
            return {"pipeline": p, "event_id": str(rec[ev.id_field]), "event_ts": int(rec[ev.time_field]),
                    "topic": topic, "partition": partition, "offset": offset, "payload": value,
                    "schema_id": read_header(value)}
        return rec

    def flush_blocking(self, now_ms: int) -> bool:
        """Write what is buffered; False if ClickHouse is down (rows stay buffered).

        Called from a thread: ClickHouse I/O must not block the event loop. The sink agent does
        not acknowledge its batch until this returns True, so nothing is lost during an outage:
        Kafka keeps the messages, the consumer simply stops moving (backpressure).
        """
        try:
            self.sink.flush(now_ms)
        except BackendUnavailable as exc:
            log.warning("ClickHouse unavailable (%s); %d rows buffered, will retry", exc, self.sink.buffered)
            return False
        return True
