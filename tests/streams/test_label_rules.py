"""`streams.label_rules`: one rule for which labels are dead-lettered (learner, sink, replay)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest

from analytics.exceptions import RowError
from analytics.rows import encode_row
from streams.config import load_config
from streams.label_rules import label_failure
from streams.sink_rows import SinkRouter
from streams.wiring import Codecs, schema_registry
from tests.integration.fixtures import fraud_generator, write_config

OK = {"event_id": "e1", "label": 1.0, "ts": 1767225600000}


@pytest.mark.parametrize(("task", "change", "reason"), [
    ("binary", {"event_id": ""}, "empty event_id"),
    ("binary", {"event_id": " \t"}, "empty event_id (only whitespace"),
    ("binary", {"ts": None}, "years 1900-2299"),
    ("binary", {"ts": 10_413_792_000_000}, "years 1900-2299"),
    ("binary", {"label": 2.0}, "is not 0 or 1"),
    ("binary", {"label": -1.0}, "is not 0 or 1"),
    ("binary", {"label": 0.5}, "is not 0 or 1"),
    ("anomaly", {"label": -1.0}, "anomaly label -1.0 is not 0 or 1"),  # sklearn's outlier: normal to analytics
    ("binary", {"label": math.nan}, "not finite"),
    ("binary", {"label": "fraud"}, "is a string"),
    ("binary", {"label": None}, "label is null"),
    ("regression", {"label": math.inf}, "not finite"),
])
def test_refused_labels_name_the_reason(task, change, reason):
    failure = label_failure({**OK, **change}, task)
    assert failure is not None and failure.error_class == "rule_violation" and reason in failure.reason


@pytest.mark.parametrize(("task", "label"), [("binary", 0.0), ("binary", 1.0), ("binary", True),
                                             ("regression", -3.5), ("multiclass", 2.0)])
def test_good_labels_pass(task, label):
    assert label_failure({**OK, "label": label}, task) is None


class FakeSink:
    """Unit-test fake of `analytics.Sink`: encodes rows as the real one does and keeps them."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {}

    def add(self, table: str, rows: list[dict], now_ms: int | None = None) -> None:
        encoded = [encode_row(table, r) for r in rows]  # RowError here, as in Sink.add
        self.rows.setdefault(table, []).extend(encoded)


def test_the_sink_skips_inputs_the_agents_dead_letter_and_keeps_going():
    tmp = Path(tempfile.mkdtemp())
    cfg = load_config(write_config(tmp, "lr"))
    codecs = Codecs.build(cfg, schema_registry(None, tmp))
    sink = FakeSink()
    router = SinkRouter(cfg, codecs, sink)
    ev = fraud_generator().generate(1, seed=1)[0][0]
    t = cfg.topics
    msgs = [(t.labels, 0, 0, codecs.encode("events", ev)),                   # another schema on labels
            (t.labels, 0, 1, codecs.encode("labels", {**OK, "label": 2.0})),   # learner refuses it
            (t.events, 0, 0, codecs.encode("events", {**ev, "ts": 10_413_792_000_000})),  # no DateTime64
            (t.labels, 0, 2, codecs.encode("labels", OK)),
            (t.events, 0, 1, codecs.encode("events", ev))]
    router.route(msgs, now_ms=1767225600000)
    assert [r["event_id"] for r in sink.rows["labels"]] == ["e1"]
    assert [(r["partition"], r["offset"]) for r in sink.rows["labels"]] == [(0, 2)]  # its topic position
    assert [r["event_id"] for r in sink.rows["events_archive"]] == [ev["event_id"]]
    assert "dlq" not in sink.rows  # the agents dead-letter inputs; the sink only skips them
    with pytest.raises(RowError):
        encode_row("labels", {"pipeline": "p", "event_id": "e", "label": 1.0, "label_ts": 10_413_792_000_000})


def test_the_event_time_range_is_what_analytics_can_store():
    """`features` and `analytics` import nothing of each other: their two copies of the range
    (events refused outside it, times ClickHouse cannot hold) must agree."""
    from analytics.rows import TS_RANGE_MS
    from features.columns import TS_RANGE

    assert TS_RANGE == TS_RANGE_MS
