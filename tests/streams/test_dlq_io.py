"""streams.dlq_io: reading letters (topic and table forms), describing, exporting, replaying.

Real codecs on a folder registry; Kafka and ClickHouse are replaced by fakes (named as such)
here only. The same code runs against the real stack in tests/integration/test_dlq_replay.py.
"""

from __future__ import annotations

import base64
import io
import json
import random
from dataclasses import dataclass

import pytest

from analytics.rows import encode_row
from schemas import AvroCodec, FolderRegistry, load_avsc, load_builtin, make_dlq_record
from schemas.testing import MALFORMED_KINDS, malformed
from streams.dlq_io import (
    ClickHouseDlq,
    DeadLetter,
    ReplayReport,
    Selection,
    TopicDlq,
    choose_for_replay,
    describe,
    export_records,
    replay_as_is,
    replay_fixed,
)
from tests.integration.fixtures import FRAUD

SUBJECT = "p.events-value"
EVENT = {"event_id": "e1", "ts": 1_700_000_000_000, "card_id": "c1", "merchant_id": "m1", "amount": 12.5,
         "country": "FR", "channel": "pos"}


@pytest.fixture
def codec(tmp_path) -> AvroCodec:
    c = AvroCodec(FolderRegistry(tmp_path / "registry"))
    c.register(SUBJECT, load_avsc(FRAUD / "transaction.avsc"))
    c.register("p.dlq-value", load_builtin("dlq"))
    return c


@pytest.fixture
def schema() -> dict:
    return load_avsc(FRAUD / "transaction.avsc")


def letter(offset: int, value: bytes, error_class: str = "bad_magic", ts: int = 1_000, key: bytes | None = b"k",
           topic: str = "p.events", partition: int = 0, pipeline: str = "p") -> DeadLetter:
    return DeadLetter.from_record(make_dlq_record(pipeline, topic, partition, offset, key, value, error_class,
                                                  f"reason {offset}", ts))


@dataclass
class FakeMessage:
    value: bytes


class FakeProducer:
    """Records what would have been sent to Kafka."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.flushed = 0

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def flush(self, timeout: float = 60.0) -> None:
        self.flushed += 1


class FakeBackend:
    """Answers every query with canned rows and keeps the SQL it was asked."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.sql: list[str] = []

    def query(self, sql: str) -> list[dict]:
        self.sql.append(sql)
        return self.rows


def test_a_table_row_gives_back_the_original_bytes():
    rec = make_dlq_record("p", "p.events", 3, 99, b"\x00\xffkey", b"\x00\x01\x02raw", "truncated", "too short", 1234,
                          schema_id=7)
    row = {**encode_row("dlq", rec), "ts": 1234}  # the query returns ts as ms
    dl = DeadLetter.from_row(row)
    assert (dl.key, dl.value, dl.position, dl.schema_id, dl.ts) == (b"\x00\xffkey", b"\x00\x01\x02raw", ("p.events", 3, 99), 7, 1234)
    no_key = DeadLetter.from_row({**row, "key": ""})
    assert no_key.key is None


def test_clickhouse_queries_quote_what_the_user_typed():
    fake = FakeBackend([])
    src = ClickHouseDlq(fake, "p")
    src.records(Selection(error_class="x' OR 1=1 --", offset=5, partition=1, source_topic="p.events"), limit=3,
                newest_first=True)
    sql = fake.sql[-1]
    assert "error_class = 'x\\' OR 1=1 --'" in sql
    assert "`offset` = 5" in sql and "`partition` = 1" in sql and "LIMIT 3" in sql and "ORDER BY ts DESC" in sql
    assert "FROM eddy.dlq FINAL WHERE pipeline = 'p'" in sql


def test_topic_source_dedups_by_position_and_keeps_to_its_pipeline(codec):
    def rec(offset: int, cls: str, ts: int, pipeline: str = "p") -> FakeMessage:
        return FakeMessage(codec.encode("p.dlq-value", make_dlq_record(pipeline, "p.events", 0, offset, None, b"v", cls,
                                                                        "why", ts)))

    msgs = [rec(1, "bad_magic", 10), rec(2, "truncated", 20), rec(1, "bad_magic", 30), rec(3, "duplicate", 40, "other"),
            FakeMessage(b"not a dlq record")]
    src = TopicDlq("kafka:9092", "p.dlq", codec, "p", read=lambda _k, _t: msgs)
    assert [(c.error_class, c.count, c.last_ts) for c in src.counts()] == [("bad_magic", 1, 30), ("truncated", 1, 20)]
    assert src.unreadable == 1
    assert [d.offset for d in src.records()] == [2, 1]
    assert [d.offset for d in src.records(newest_first=True, limit=1)] == [1]
    assert [d.offset for d in src.records(Selection(error_class="truncated"))] == [2]
    assert src.records(Selection(offset=1, partition=1)) == []


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_describe_every_malformed_kind(codec, schema, kind):
    data, expected = malformed(codec, SUBJECT, EVENT, kind, random.Random(1))
    d = describe(letter(0, data, expected), codec, schema)
    if kind in ("random_bytes", "truncated", "unknown_schema_id", "trailing_bytes"):
        assert d.record is None and d.decode_error
    if kind == "random_bytes":
        assert d.header.startswith("no Confluent header")
    if kind == "not_finite":  # shown as it is, with a note, so it can be fixed
        assert d.decoded_with == "pipeline schema" and d.notes == ["non-finite value(s) in amount"]
    if kind == "wrong_types":  # not readable with the pipeline's schema, readable with its own
        assert d.decoded_with.startswith("writer schema") and d.record["event_id"] is True


def test_describe_json_and_tombstones(codec, schema):
    d = describe(letter(0, json.dumps(EVENT).encode()), codec, schema)
    assert "looks like JSON" in d.header and d.record is None
    assert "first byte is 0x7b" in d.decode_error and "writer schema:" not in d.decode_error  # said once
    assert describe(letter(1, b""), codec, schema).header.startswith("empty value")


def test_export_then_fix_then_replay_fixed(codec, schema, tmp_path):
    bad = {**EVENT, "amount": -3.0}
    letters = [letter(0, codec.encode(SUBJECT, bad), "rule_violation"), letter(1, b"\x07junk")]
    buf = io.StringIO()
    n, skipped = export_records(letters, codec, schema, buf)
    assert n == 1 and [d.offset for d in skipped] == [1]
    rows = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert rows == [bad]
    rows[0]["amount"] = 3.0
    fix = tmp_path / "fix.jsonl"
    fix.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"event_id": "no-other-fields"}) + "\n")
    producer = FakeProducer()
    report = replay_fixed(fix, "p.events", lambda r: codec.encode(SUBJECT, r), "card_id", schema, producer)
    assert report.sent == {"p.events": 1} and [line for line, _ in report.rejected] == [2]
    (topic, key, value), = producer.sent
    assert (topic, key) == ("p.events", b"c1") and codec.decode(value) == {**bad, "amount": 3.0}


def test_replay_as_is_sends_original_bytes_to_the_source_topic():
    letters = [letter(0, b"\x01a", key=None), letter(1, b"\x01b", "duplicate"), letter(2, b"\x01c", topic="p.labels"),
               letter(3, b"x", "sink_decode", topic="p.scores")]
    go, left = choose_for_replay(letters, ["p.events", "p.labels"], None)
    assert [d.offset for d in go] == [0, 2] and len(left) == 2
    producer = FakeProducer()
    report = replay_as_is(go, producer, ReplayReport())
    assert producer.sent == [("p.events", None, b"\x01a"), ("p.labels", b"k", b"\x01c")] and producer.flushed == 1
    assert report.total == 2
    forced, _ = choose_for_replay(letters, ["p.events"], "duplicate")
    assert [d.offset for d in forced] == [0, 1]


def test_rows_in_the_table_are_base64():
    row = encode_row("dlq", make_dlq_record("p", "t", 0, 1, None, b"\xff", "bad_magic", "r", 5))
    assert row["value"] == base64.b64encode(b"\xff").decode()


def test_a_fixed_row_that_still_breaks_a_rule_is_rejected_not_sent(codec, schema, tmp_path):
    """`eddy dlq replay --fix` checks the config's rules as `eddy produce` does (`row_checker`);
    a dry run (no producer) reports the same."""
    fix = tmp_path / "fix.jsonl"
    fix.write_text(json.dumps({**EVENT, "amount": 3.0}) + "\n" + json.dumps({**EVENT, "amount": -1.0}) + "\n")

    def check(rec, value):
        return "rule violation: amount below 0" if rec["amount"] < 0 else None

    producer = FakeProducer()
    report = replay_fixed(fix, "p.events", lambda r: codec.encode(SUBJECT, r), "card_id", schema, producer, check=check)
    assert report.sent == {"p.events": 1} and report.rejected == [(2, "rule violation: amount below 0")]
    assert len(producer.sent) == 1
    dry = replay_fixed(fix, "p.events", lambda r: codec.encode(SUBJECT, r), "card_id", schema, None, check=check)
    assert dry.sent == report.sent and dry.rejected == report.rejected
