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

A record the sink cannot decode is not dropped: it becomes a `dlq` row naming the topic and offset.
"""

from __future__ import annotations

import logging
from typing import Any

from analytics.exceptions import BackendUnavailable
from schemas import read_header
from streams.config import PipelineConfig
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

    def route(self, messages: list[tuple[str, int, int, bytes]], now_ms: int) -> None:
        """Decode `(topic, partition, offset, value)` messages and buffer their rows."""
        p = self.config.pipeline
        for topic, partition, offset, value in messages:
            table = self.tables.get(topic)
            if table is None:
                continue
            try:
                rec = self.codecs.codec.decode(value, self.codecs.event_schema if table == "events_archive" else None)
            except Exception as exc:  # noqa: BLE001 - any undecodable message becomes a DLQ row
                if table in ("events_archive", "labels"):
                    continue  # the score / learn agent already dead-letters undecodable inputs
                self.sink.add("dlq", [{"pipeline": p, "source_topic": topic, "partition": partition, "offset": offset,
                                       "key": None, "value": value, "error_class": "sink_decode",
                                       "reason": f"sink could not decode: {exc}", "ts": now_ms, "schema_id": None}])
                continue
            self.sink.add(table, [self._row(table, rec, topic, partition, offset, value)], now_ms=now_ms)

    def _row(self, table: str, rec: dict, topic: str, partition: int, offset: int, value: bytes) -> dict:
        p = self.config.pipeline
        if table == "predictions":
            return {**{k: rec[k] for k in ("run_id", "model", "model_version", "role", "shadow", "event_id", "key",
                                            "event_ts", "served_ts", "latency_ms", "prediction", "predicted_label",
                                            "features", "segments", "late", "degraded")}, "pipeline": p}
        if table == "labels":
            return {"pipeline": p, "event_id": rec["event_id"], "label": rec["label"], "label_ts": rec["ts"],
                    "source": rec.get("source")}
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
