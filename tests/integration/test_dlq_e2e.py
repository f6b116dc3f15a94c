"""Issue 3, must show: garbage in, nothing lost, nothing counted twice, the worker keeps going.

A real worker process (`eddy worker`) on the embedded stack (Tansu, Redis, chDB server) is fed
more than 1,000 malformed messages of every class interleaved with 2,000 valid events. Then:

* every malformed message is on `<p>.dlq` and in the ClickHouse `dlq` table, exactly once, with
  its original key and bytes, its source topic/partition/offset, the expected error class and a
  reason;
* every valid event was scored exactly once (champion rows in `predictions`: count ==
  uniqExact(event_id) == number of valid events, and the id sets are equal);
* the worker process never restarted (same pid alive from start to end, no crash in its log).

The fixture below is shared with `test_dlq_replay.py`-style checks in this module: `eddy dlq`
commands run as subprocesses against the same pipeline afterwards.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections import Counter, defaultdict, deque
from dataclasses import dataclass

import pytest

from schemas import AvroCodec, read_header
from schemas.testing import UNKNOWN_IDS, malformed
from streams.config import load_config
from streams.harness import WorkerProcess, counters, wait_until
from streams.kafka_io import ensure_topics, make_producer, read_topic
from streams.wiring import Codecs, schema_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

PIPELINE = "it_dlq_e2e"
N_VALID = 2000
#: malformed kind (schemas.testing) -> how many
KIT = {"random_bytes": 150, "truncated": 150, "unknown_schema_id": 150, "wrong_types": 150,
       "not_finite": 150, "trailing_bytes": 150}
#: Eddy-level bad input -> (how many, expected error class)
OTHER = {"plain_json": (50, "bad_magic"), "tombstone": (20, "truncated"),
         "negative_amount": (80, "rule_violation"), "unknown_channel": (80, "rule_violation"),
         "too_large": (30, "too_large"), "duplicate": (120, "duplicate"), "year_2300": (10, "rule_violation")}
MAX_MESSAGE_BYTES = 512  # rules.max_message_bytes of the test pipeline
#: bad labels on <p>.labels (the learn agent's DLQ path) -> (how many, expected error class)
LABELS = {"random_bytes": (20, "bad_magic"), "not_finite": (20, "not_finite"), "empty_event_id": (20, "rule_violation"),
          "tombstone": (10, "truncated"),
          # a valid record of another schema (an event) on the labels topic: it used to crash the worker
          "foreign_schema": (10, "schema_mismatch"),
          # a binary label that is not 0/1 (learned as 1, counted as 0 by analytics), a ts ClickHouse cannot hold
          "not_0_or_1": (10, "rule_violation"), "ts_out_of_range": (10, "rule_violation"),
          # a valid label for an event that never comes: an orphan after labels.early_label_wait
          "orphan": (10, "orphan_label")}
EARLY_LABEL_WAIT = "2s"  # labels.early_label_wait of the test pipeline
N_BAD_EVENTS = sum(KIT.values()) + sum(n for n, _ in OTHER.values())
N_BAD_LABELS = sum(n for n, _ in LABELS.values())
N_BAD = N_BAD_EVENTS + N_BAD_LABELS
CRASH = re.compile(r"Traceback|crashed|Agent.*(stopped|error)", re.IGNORECASE)


@dataclass(frozen=True)
class Sent:
    """One produced message and what must become of it."""

    kind: str                 # "valid" or a bad kind
    key: bytes
    value: bytes | None
    expected: str | None      # DLQ error class; None for valid events
    event_id: str | None = None
    topic: str = "events"     # which input topic of the pipeline


def build_messages(codecs: Codecs, events: list[dict], rng: random.Random) -> list[Sent]:
    """Valid events in time order with every bad message inserted at a random place.

    A duplicate always comes after its original and has the same key (same partition), so the
    original is the one scored and the later copy is the one dead-lettered.
    """
    cfg = codecs.config
    key_field = cfg.event.key_field
    subject = codecs.subject("events")
    placed: list[tuple[float, Sent]] = []
    for i, ev in enumerate(events):
        placed.append((float(i), Sent("valid", ev[key_field].encode(), codecs.encode("events", ev), None, ev["event_id"])))

    def some_event(tag: str) -> dict:
        return {**events[rng.randrange(len(events))], "event_id": tag}

    n = len(events)
    for kind, count in KIT.items():
        for i in range(count):
            tag = f"bad-{kind}-{i}"
            data, expected = malformed(codecs.codec, subject, some_event(tag), kind, rng)
            placed.append((rng.uniform(0, n), Sent(kind, tag.encode(), data, expected)))
    for kind, (count, expected) in OTHER.items():
        for i in range(count):
            tag = f"bad-{kind}-{i}"
            if kind == "plain_json":
                sent = Sent(kind, tag.encode(), json.dumps(some_event(tag)).encode(), expected)
            elif kind == "tombstone":
                sent = Sent(kind, tag.encode(), None, expected)
            elif kind == "negative_amount":
                rec = {**some_event(tag), "amount": -round(rng.uniform(0.01, 500.0), 2)}
                sent = Sent(kind, rec[key_field].encode(), codecs.encode("events", rec), expected, tag)
            elif kind == "too_large":  # valid Avro, but over rules.max_message_bytes
                rec = {**some_event(tag), "merchant_id": "m" * (MAX_MESSAGE_BYTES + rng.randrange(1, 100))}
                sent = Sent(kind, rec[key_field].encode(), codecs.encode("events", rec), expected, tag)
            elif kind == "year_2300":  # a time ClickHouse cannot hold: it used to stop the sink
                rec = {**some_event(tag), "ts": 10_413_792_000_000 + i}
                sent = Sent(kind, rec[key_field].encode(), codecs.encode("events", rec), expected, tag)
            elif kind == "unknown_channel":
                rec = {**some_event(tag), "channel": rng.choice(["crypto", "POS", "wire"])}
                sent = Sent(kind, rec[key_field].encode(), codecs.encode("events", rec), expected, tag)
            else:  # duplicate of an earlier valid event: same bytes (a resend) or a changed copy
                j = rng.randrange(n - 1)
                orig = events[j]
                rec = orig if i % 2 == 0 else {**orig, "amount": orig["amount"] + 1.0}
                sent = Sent(kind, orig[key_field].encode(), codecs.encode("events", rec), expected, orig["event_id"])
                placed.append((rng.uniform(j + 0.5, n), sent))
                continue
            placed.append((rng.uniform(0, n), sent))
    placed.sort(key=lambda p: p[0])
    return [s for _, s in placed]


def bad_labels(codecs: Codecs, events: list[dict], rng: random.Random) -> list[Sent]:
    """Malformed messages on the labels topic (one partition: the learner's)."""
    subject = codecs.subject("labels")
    out = []
    for kind, (count, expected) in LABELS.items():
        for i in range(count):
            tag = f"bad-label-{kind}-{i}"
            lab = {"event_id": events[rng.randrange(len(events))]["event_id"], "label": 1.0,
                   "ts": events[-1]["ts"], "source": tag}
            if kind == "tombstone":
                value = None
            elif kind == "orphan":  # keyed by its event id, as the orphan's dead letter is
                value = codecs.encode("labels", {**lab, "event_id": tag})
                out.append(Sent(kind, tag.encode(), value, expected, topic="labels"))
                continue
            elif kind == "empty_event_id":
                value = codecs.encode("labels", {**lab, "event_id": ""})
            elif kind == "foreign_schema":
                value = codecs.encode("events", {**events[rng.randrange(len(events))], "event_id": tag})
            elif kind == "not_0_or_1":
                value = codecs.encode("labels", {**lab, "label": rng.choice([2.0, -1.0, 0.5, 1e308])})
            elif kind == "ts_out_of_range":
                value = codecs.encode("labels", {**lab, "ts": rng.choice([-2_208_988_800_001, 10_413_792_000_000])})
            else:
                value = malformed(codecs.codec, subject, lab, kind, rng)[0]
            out.append(Sent(kind, tag.encode(), value, expected, topic="labels"))
    return out


def locate(messages: list, sent: list[Sent]) -> dict[tuple[str, int, int], Sent]:
    """Attribute every message read back from the events topic to what was produced.

    Same (key, value) pairs (a duplicate that resends the original's bytes) share a partition,
    so they are matched in produce order.
    """
    queues: dict[tuple[bytes, bytes], deque[Sent]] = defaultdict(deque)
    for s in sent:
        queues[(s.key, s.value or b"")].append(s)
    out: dict[tuple[str, int, int], Sent] = {}
    for m in messages:
        q = queues.get((m.key, m.value or b""))
        assert q, f"message at {m.partition}/{m.offset} was not produced by this test"
        out[(m.topic, m.partition, m.offset)] = q.popleft()
    return out


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    """Produce the mix into a running worker and wait until everything is scored, dead-lettered and sunk."""
    tmp = tmp_path_factory.mktemp("dlq-e2e")
    cfg_path = write_config(tmp, PIPELINE, partitions=2, rules={"max_message_bytes": MAX_MESSAGE_BYTES},
                            labels={"early_label_wait": EARLY_LABEL_WAIT})
    cfg = load_config(cfg_path)
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    events, _labels = fraud_generator().generate(N_VALID, seed=23)
    sent = build_messages(codecs, events, random.Random(3)) + bad_labels(codecs, events, random.Random(4))
    kafka = stack.endpoints.kafka
    ensure_topics(kafka, cfg.topics.layout())
    worker = WorkerProcess(cfg_path, stack, tmp / "worker.log").start()
    pid = worker.proc.pid
    try:
        producer = make_producer(kafka)
        for s in sent:
            producer.send(getattr(cfg.topics, s.topic), s.key, s.value)
        producer.flush()

        def alive() -> None:
            assert worker.alive() and worker.proc.pid == pid, f"worker exited:\n{worker.log_tail()}"

        def processed() -> bool:
            alive()
            c = counters(cfg, stack.endpoints.redis)
            return c.get("events", 0) >= N_VALID + N_BAD_EVENTS and c.get("labels", 0) >= N_BAD_LABELS

        wait_until(processed, 300, "the worker to take every message", on_tick=alive)

        def sunk() -> bool:
            alive()
            p = clickhouse.query(f"SELECT count() AS n FROM eddy.predictions WHERE pipeline = '{PIPELINE}' "
                                 f"AND model = 'logreg'")[0]["n"]
            d = clickhouse.query(f"SELECT count() AS n FROM eddy.dlq FINAL WHERE pipeline = '{PIPELINE}'")[0]["n"]
            return p >= N_VALID and d >= N_BAD

        wait_until(sunk, 120, "the sink to write every score and dead letter")
        where = locate(read_topic(kafka, cfg.topics.events) + read_topic(kafka, cfg.topics.labels), sent)
        own = AvroCodec(codecs.codec.registry)  # Eddy's own records: no input size limit
        dlq = [own.decode(m.value) for m in read_topic(kafka, cfg.topics.dlq)]
        final = counters(cfg, stack.endpoints.redis)
        alive()
        log = worker.log_path.read_text(errors="replace")
    finally:
        worker.stop()
    return {"cfg": cfg, "cfg_path": cfg_path, "codecs": codecs, "sent": sent, "where": where, "dlq": dlq,
            "counters": final, "log": log, "events": events, "tmp": tmp}


def test_the_mix_is_big_enough(run):
    kinds = Counter(s.kind for s in run["sent"])
    assert sum(n for k, n in kinds.items() if k != "valid") == N_BAD >= 1000
    assert kinds["valid"] == N_VALID
    assert len(run["where"]) == len(run["sent"])  # every produced message is on the topic


def rebalanced(run) -> bool:
    """True if the worker's consumer group rebalanced (it may then legitimately see a batch twice)."""
    return run["log"].count("Joined group") > 1


def _expected_dead(run) -> dict[tuple[str, int, int], Sent]:
    return {pos: s for pos, s in run["where"].items() if s.expected is not None}


def test_every_malformed_message_is_on_the_dlq_topic_once_with_its_bytes(run):
    expected = _expected_dead(run)
    got = Counter((r["source_topic"], r["partition"], r["offset"]) for r in run["dlq"])
    if not rebalanced(run):  # a rebalance may redeliver a batch: then the table's dedup by position counts
        assert [pos for pos, n in got.items() if n > 1] == []
    assert set(got) == set(expected)
    wrong = []
    for r in run["dlq"]:
        s = expected[(r["source_topic"], r["partition"], r["offset"])]
        if (r["error_class"], r["value"], r["key"]) != (s.expected, s.value or b"", s.key) or not r["reason"].strip():
            wrong.append((s.kind, s.expected, r["error_class"], r["reason"]))
        assert r["pipeline"] == PIPELINE
        if s.kind == "unknown_schema_id":  # the header's id, unless an Avro int cannot hold it
            sid = read_header(s.value)
            assert r["schema_id"] == (sid if sid < 2**31 else None) and sid in UNKNOWN_IDS
    # ids of 2**31 and more were among them (a letter that failed to encode stopped the worker)
    assert any(read_header(s.value) >= 2**31 for s in expected.values() if s.kind == "unknown_schema_id")
    assert wrong == []


def _table_rows(clickhouse, source: str) -> list[dict]:
    return clickhouse.query(
        f"SELECT source_topic, partition, offset, key, value, error_class, reason FROM eddy.dlq FINAL "
        f"WHERE pipeline = '{PIPELINE}' AND source_topic = '{PIPELINE}.{source}'")


def test_every_malformed_message_is_in_clickhouse_with_its_bytes(run, clickhouse):
    expected = {pos: s for pos, s in _expected_dead(run).items() if s.topic == "events" and s.kind != "too_large"}
    rows = [r for r in _table_rows(clickhouse, "events") if r["error_class"] != "too_large"]
    assert len(rows) == len(expected)
    wrong = []
    for r in rows:
        s = expected[(r["source_topic"], int(r["partition"]), int(r["offset"]))]
        value, key = base64.b64decode(r["value"]), base64.b64decode(r["key"])
        if (r["error_class"], value, key) != (s.expected, s.value or b"", s.key) or not r["reason"].strip():
            wrong.append((s.kind, r["error_class"], r["reason"]))
    assert wrong == []
    by_class = {r["error_class"]: r["n"] for r in clickhouse.query(
        f"SELECT error_class, count() AS n FROM eddy.dlq FINAL WHERE pipeline = '{PIPELINE}' "
        f"AND source_topic = '{PIPELINE}.events' GROUP BY error_class")}
    want = Counter(s.expected for s in expected.values())
    assert {c: n for c, n in by_class.items() if c != "too_large"} == dict(want)
    assert set(want) == {"bad_magic", "truncated", "unknown_schema_id", "corrupt_avro", "schema_mismatch",
                         "not_finite", "rule_violation", "duplicate"}


def test_too_large_messages_are_in_clickhouse_at_their_source_position(run, clickhouse):
    expected = {pos for pos, s in _expected_dead(run).items() if s.kind == "too_large"}
    rows = [r for r in _table_rows(clickhouse, "events") if r["error_class"] == "too_large"]
    assert {(r["source_topic"], int(r["partition"]), int(r["offset"])) for r in rows} == expected


def test_bad_labels_are_in_clickhouse(run, clickhouse):
    """Every bad label has its row (none lost, the sink agent survives a tombstone)."""
    expected = {pos for pos, s in _expected_dead(run).items() if s.topic == "labels"}
    rows = _table_rows(clickhouse, "labels")
    assert {(r["source_topic"], int(r["partition"]), int(r["offset"])) for r in rows} == expected
    assert all(base64.b64decode(r["value"]) == (run["where"][(r["source_topic"], int(r["partition"]), int(r["offset"]))].value or b"")
               for r in rows)


def test_bad_labels_keep_their_error_class_in_clickhouse(run, clickhouse):
    expected = {pos: s for pos, s in _expected_dead(run).items() if s.topic == "labels"}
    rows = _table_rows(clickhouse, "labels")
    got = {(r["source_topic"], int(r["partition"]), int(r["offset"])): r["error_class"] for r in rows}
    assert got == {pos: s.expected for pos, s in expected.items()}


def test_reasons_say_what_is_wrong(run):
    reasons = defaultdict(list)
    for r in run["dlq"]:
        reasons[(r["source_topic"].rsplit(".", 1)[1], r["error_class"])].append(r["reason"])
    assert all("amount" in x or "channel" in x or "out of range" in x for x in reasons[("events", "rule_violation")])
    assert all("empty event_id" in x or "is not 0 or 1" in x or "years 1900-2299" in x
               for x in reasons[("labels", "rule_violation")])
    assert all("eddy.Label" in x for x in reasons[("labels", "schema_mismatch")])
    assert all("already scored" in x for x in reasons[("events", "duplicate")])
    assert all("amount" in x for x in reasons[("events", "not_finite")])
    assert all("label" in x for x in reasons[("labels", "not_finite")])
    orphans = reasons[("labels", "orphan_label")]
    assert len(orphans) == LABELS["orphan"][0] and all("no snapshot after" in x for x in orphans)
    assert run["counters"].get("labels_orphan", 0) == LABELS["orphan"][0]
    assert "orphan label(s)" in run["log"]


def test_every_valid_event_scored_exactly_once(run, clickhouse):
    final = clickhouse.query(
        f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions FINAL "
        f"WHERE pipeline = '{PIPELINE}' AND model = 'logreg'")
    assert final == [{"n": N_VALID, "ids": N_VALID}]
    if not rebalanced(run):  # no batch was redelivered: not even a re-emitted score reached the table
        raw = clickhouse.query(
            f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions "
            f"WHERE pipeline = '{PIPELINE}' AND model = 'logreg'")
        assert raw == [{"n": N_VALID, "ids": N_VALID}]
    ids = {r["event_id"] for r in clickhouse.query(
        f"SELECT event_id FROM eddy.predictions WHERE pipeline = '{PIPELINE}' AND model = 'logreg'")}
    assert ids == {e["event_id"] for e in run["events"]}


def test_counters_match(run):
    c = run["counters"]
    assert c["scored"] == N_VALID
    assert c["events"] == N_VALID + N_BAD_EVENTS
    assert c["labels"] == N_BAD_LABELS
    if not rebalanced(run):
        assert c["dlq"] == N_BAD
        assert c.get("redelivered", 0) == 0


def test_worker_never_restarted(run):
    assert not CRASH.search(run["log"]), run["log"][-3000:]
