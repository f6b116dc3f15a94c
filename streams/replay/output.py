"""Where a replay's predictions go: ClickHouse ``predictions`` (batched) and optionally a topic; its
drift alerts and actions: ``alerts`` and ``model_events``.

Rows have exactly the live sink's shape (`streams.sink_rows.SinkRouter`), under the replay's run id.
"""

from __future__ import annotations

from typing import Any

from analytics import Sink
from streams.run_records import action_events, alert_record, model_event_record

#: Score-record fields copied into a ``predictions`` row (plus ``pipeline``).
ROW_FIELDS = ("run_id", "model", "model_version", "role", "shadow", "event_id", "key", "event_ts", "served_ts",
              "latency_ms", "prediction", "predicted_label", "features", "segments", "late", "degraded")


def prediction_row(record: dict[str, Any], pipeline: str) -> dict[str, Any]:
    """The ``predictions`` row of one score record (as the live sink writes it)."""
    return {**{k: record[k] for k in ROW_FIELDS}, "pipeline": pipeline}


class PredictionWriter:
    """A replay score sink: buffers rows, inserts every `batch_rows`, optionally publishes records.

    ``producer``/``topic``/``encode``: a `streams.kafka_io` producer, the replay scores topic and a
    function turning a score record into wire bytes (``lambda r: codecs.encode("scores", r, trusted=True)``).
    """

    def __init__(self, backend: Any, db: str, pipeline: str, *, batch_rows: int = 20_000, producer: Any = None,
                 topic: str | None = None, encode: Any = None) -> None:
        self.sink = Sink(backend, db, max_batch_rows=batch_rows, max_buffered_rows=batch_rows * 4, dedup=False) \
            if backend is not None else None
        self.pipeline = pipeline
        self.batch_rows = batch_rows
        self.producer, self.topic, self.encode = producer, topic, encode
        self.rows = 0
        self.published = 0

    def __call__(self, records: list[dict[str, Any]]) -> None:
        if self.sink is not None:
            self.sink.add("predictions", [prediction_row(r, self.pipeline) for r in records])
            self.rows += len(records)
            if self.sink.buffered >= self.batch_rows:
                self.sink.flush()
        if self.producer is not None and self.topic:
            for r in records:
                self.producer.send(self.topic, str(r["key"]).encode(), self.encode(r))
            self.published += len(records)

    def log_drift(self, run_id: str, alerts: list[dict[str, Any]], actions: list[dict[str, Any]]) -> None:
        """The replay's drift alerts (``alerts``) and the promotions and resets they caused
        (``model_events``, version 0: a replay's models are never versioned), under `run_id`:
        what the live learner publishes on `<p>.alerts` and `<p>.model-events`."""
        if self.sink is None:
            return
        if alerts:
            self.sink.add("alerts", [alert_record(self.pipeline, run_id, a) for a in alerts])
        events = [model_event_record(self.pipeline, run_id, e) for a in actions for e in action_events(a)]
        if events:
            self.sink.add("model_events", events)

    def close(self) -> None:
        """Write what is buffered and flush the producer (raises if anything was not delivered)."""
        if self.sink is not None:
            self.sink.flush()
        if self.producer is not None:
            self.producer.flush()
