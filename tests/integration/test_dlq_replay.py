"""`eddy dlq ls|show|export|replay` against a running worker on the embedded stack.

A smaller mix than the must-show test: valid events, rule violations, random bytes, NaN amounts,
duplicates. The commands run as subprocesses, as a user would run them. Repaired records
(exported, corrected, replayed with --fix) get scored exactly once; an as-is replay of letters
that still fail puts them back in the DLQ under new offsets with the same bytes.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter

import pytest

from analytics.exceptions import QueryError
from schemas.testing import malformed
from streams.config import load_config
from streams.harness import WorkerProcess, counters, wait_until
from streams.kafka_io import ensure_topics, make_producer
from streams.wiring import Codecs, schema_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

PIPELINE = "it_dlq_replay"
N_VALID = 300
N_NEG, N_CHANNEL, N_RANDOM, N_NAN, N_DUP = 30, 20, 15, 10, 10
N_BAD = N_NEG + N_CHANNEL + N_RANDOM + N_NAN + N_DUP


def eddy(stack, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `eddy ...` as a user would (endpoints from the stack's environment)."""
    env = {**os.environ, **stack.env(), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "streams.cli.main", *args], check=False, capture_output=True, text=True,
                          env=env, timeout=120)
    if check:
        assert proc.returncode == 0, f"eddy {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def champion_rows(clickhouse) -> list[dict]:
    return clickhouse.query(f"SELECT event_id FROM eddy.predictions WHERE pipeline = '{PIPELINE}' AND model = 'logreg'")


def dlq_count(clickhouse, error_class: str | None = None) -> int:
    extra = f" AND error_class = '{error_class}'" if error_class else ""
    return clickhouse.query(f"SELECT count() AS n FROM eddy.dlq FINAL WHERE pipeline = '{PIPELINE}'{extra}")[0]["n"]


@pytest.fixture(scope="module")
def live(stack, clickhouse, tmp_path_factory):
    """A worker that keeps running for every test of the module, after the mix was processed."""
    tmp = tmp_path_factory.mktemp("dlq-replay")
    cfg_path = write_config(tmp, PIPELINE, partitions=2)
    cfg = load_config(cfg_path)
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    events, _ = fraud_generator().generate(N_VALID, seed=5)
    rng = random.Random(9)
    key = cfg.event.key_field
    msgs = [(ev[key].encode(), codecs.encode("events", ev)) for ev in events]
    bad_ids = {"neg": [], "channel": []}
    for i in range(N_NEG):
        rec = {**events[rng.randrange(N_VALID)], "event_id": f"neg-{i}", "amount": -float(i + 1)}
        bad_ids["neg"].append(rec["event_id"])
        msgs.append((rec[key].encode(), codecs.encode("events", rec)))
    for i in range(N_CHANNEL):
        rec = {**events[rng.randrange(N_VALID)], "event_id": f"chan-{i}", "channel": "crypto"}
        bad_ids["channel"].append(rec["event_id"])
        msgs.append((rec[key].encode(), codecs.encode("events", rec)))
    for i in range(N_RANDOM):
        data, _ = malformed(codecs.codec, codecs.subject("events"), {**events[0], "event_id": f"r-{i}"}, "random_bytes", rng)
        msgs.append((f"r-{i}".encode(), data))
    for i in range(N_NAN):
        data, _ = malformed(codecs.codec, codecs.subject("events"), {**events[0], "event_id": f"nan-{i}"}, "not_finite", rng)
        msgs.append((f"nan-{i}".encode(), data))
    for i in range(N_DUP):  # after every original (appended at the end), same key: same partition
        ev = events[i * 7]
        msgs.append((ev[key].encode(), codecs.encode("events", ev)))
    ensure_topics(stack.endpoints.kafka, cfg.topics.layout())
    producer = make_producer(stack.endpoints.kafka)
    for k, v in msgs:
        producer.send(cfg.topics.events, k, v)
    producer.flush()
    worker = WorkerProcess(cfg_path, stack, tmp / "worker.log").start()
    try:
        def ready() -> bool:
            assert worker.alive(), worker.log_tail()
            return (counters(cfg, stack.endpoints.redis).get("events", 0) >= len(msgs)
                    and len(champion_rows(clickhouse)) >= N_VALID and dlq_count(clickhouse) >= N_BAD)

        wait_until(ready, 180, "the worker to score and dead-letter the mix")
        yield {"cfg": cfg, "cfg_path": str(cfg_path), "tmp": tmp, "events": events, "bad_ids": bad_ids,
               "worker": worker, "codecs": codecs}
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()


def test_ls_counts_by_class(live, stack):
    out = eddy(stack, "dlq", "ls", "-c", live["cfg_path"]).stdout
    lines = {ln.split("│")[1].strip(): ln for ln in out.splitlines() if ln.count("│") >= 4}
    assert f"{N_NEG + N_CHANNEL}" in lines["rule_violation"]
    assert f"{N_RANDOM}" in lines["bad_magic"] and f"{N_NAN}" in lines["not_finite"]
    assert f"{N_DUP}" in lines["duplicate"]
    assert f"{N_BAD}" in out  # the total row
    topic_out = eddy(stack, "dlq", "ls", "-c", live["cfg_path"], "--from", "topic", "-n", "5").stdout
    assert "rule_violation" in topic_out and "5 most recent" in topic_out


def test_show_explains_one_letter(live, stack, clickhouse):
    shown = eddy(stack, "dlq", "show", "-c", live["cfg_path"], "--error-class", "rule_violation").stdout
    assert "rule_violation" in shown and ("below min 0" in shown or "is not one of" in shown)
    assert "decoded with the pipeline schema" in shown and '"event_id"' in shown and "00000000  00" in shown
    row = clickhouse.query(f"SELECT `partition` AS p, `offset` AS o, value FROM eddy.dlq FINAL "
                           f"WHERE pipeline = '{PIPELINE}' AND error_class = 'bad_magic' LIMIT 1")[0]
    as_json = eddy(stack, "dlq", "show", "-c", live["cfg_path"], str(row["o"]), "--partition", str(row["p"]),
                   "--source-topic", f"{PIPELINE}.events", "--json").stdout
    got = json.loads(as_json)
    assert got["error_class"] == "bad_magic" and bytes.fromhex(got["value_hex"]) == base64.b64decode(row["value"])
    assert got["record"] is None and "no Confluent header" in got["header"]
    missing = eddy(stack, "dlq", "show", "-c", live["cfg_path"], "999999", check=False)
    assert missing.returncode == 2 and "no dead letter" in missing.stderr


def test_export_fix_replay_gets_repaired_records_scored_once(live, stack, clickhouse):
    fix = live["tmp"] / "fix.jsonl"
    eddy(stack, "dlq", "export", "-c", live["cfg_path"], "--error-class", "rule_violation", "-o", str(fix))
    rows = [json.loads(line) for line in fix.read_text().splitlines()]
    assert sorted(r["event_id"] for r in rows) == sorted(live["bad_ids"]["neg"] + live["bad_ids"]["channel"])
    for r in rows:  # the repair a user would make
        r["amount"] = abs(r["amount"])
        if r["channel"] not in ("pos", "online", "atm"):
            r["channel"] = "online"
    rows.append({"event_id": "still-broken"})  # a row the schema refuses: reported, not sent
    fix.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dry = eddy(stack, "dlq", "replay", "-c", live["cfg_path"], "--fix", str(fix), "--dry-run")
    assert f"would send {N_NEG + N_CHANNEL} to {PIPELINE}.events" in dry.stdout
    before = counters(live["cfg"], stack.endpoints.redis)["events"]
    res = eddy(stack, "dlq", "replay", "-c", live["cfg_path"], "--fix", str(fix))
    assert f"sent {N_NEG + N_CHANNEL} to {PIPELINE}.events" in res.stdout
    assert f"line {len(rows)}: rejected" in res.stderr
    repaired = set(live["bad_ids"]["neg"] + live["bad_ids"]["channel"])

    def scored() -> bool:
        assert live["worker"].alive(), live["worker"].log_tail()
        return repaired <= {r["event_id"] for r in champion_rows(clickhouse)}

    wait_until(scored, 90, "the repaired records to be scored")
    # the worker writes its counters every 0.25 s: wait for them, then check that they stay
    wait_until(lambda: counters(live["cfg"], stack.endpoints.redis)["events"] >= before + N_NEG + N_CHANNEL, 10,
               "the counters")
    time.sleep(0.6)
    assert counters(live["cfg"], stack.endpoints.redis)["events"] == before + N_NEG + N_CHANNEL
    ids = Counter(r["event_id"] for r in champion_rows(clickhouse))
    assert all(ids[e] == 1 for e in repaired)
    assert set(ids) == {e["event_id"] for e in live["events"]} | repaired
    assert sum(ids.values()) == N_VALID + len(repaired)


def test_replay_as_is_sends_the_original_bytes_back(live, stack, clickhouse):
    original = {r["value"] for r in clickhouse.query(
        f"SELECT value FROM eddy.dlq FINAL WHERE pipeline = '{PIPELINE}' AND error_class = 'not_finite'")}
    dry = eddy(stack, "dlq", "replay", "-c", live["cfg_path"], "--dry-run")
    assert f"left {N_DUP} letter(s): duplicate" in dry.stderr  # duplicates stay unless asked for
    res = eddy(stack, "dlq", "replay", "-c", live["cfg_path"], "--error-class", "not_finite")
    assert f"sent {N_NAN} to {PIPELINE}.events" in res.stdout

    def back() -> bool:
        assert live["worker"].alive(), live["worker"].log_tail()
        return dlq_count(clickhouse, "not_finite") >= 2 * N_NAN

    # Still NaN: dead-lettered again under new offsets, byte for byte the same messages.
    wait_until(back, 90, "the replayed NaN records to be dead-lettered again")
    rows = clickhouse.query(f"SELECT `offset` AS o, value FROM eddy.dlq FINAL "
                            f"WHERE pipeline = '{PIPELINE}' AND error_class = 'not_finite'")
    assert len(rows) == 2 * N_NAN and len({r["o"] for r in rows}) == 2 * N_NAN
    assert Counter(r["value"] for r in rows) == Counter({v: 2 for v in original})


def test_replay_as_is_after_a_rule_fix_gets_them_scored(stack, clickhouse, tmp_path):
    """A rule was too strict: relax it, restart the worker, replay the letters unchanged."""
    pipeline = "it_dlq_asis"
    strict = write_config(tmp_path, pipeline, partitions=1)
    cfg = load_config(strict)
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    events, _ = fraud_generator().generate(60, seed=8)
    wire = [{**ev, "event_id": f"wire-{i}", "channel": "wire"} for i, ev in enumerate(events[:15])]
    ensure_topics(stack.endpoints.kafka, cfg.topics.layout())
    producer = make_producer(stack.endpoints.kafka)
    for ev in events + wire:
        producer.send(cfg.topics.events, ev["card_id"].encode(), codecs.encode("events", ev))
    producer.flush()

    def scored_ids() -> list[str]:
        return [r["event_id"] for r in clickhouse.query(
            f"SELECT event_id FROM eddy.predictions WHERE pipeline = '{pipeline}' AND model = 'logreg'")]

    def letters() -> int:
        return clickhouse.query(f"SELECT count() AS n FROM eddy.dlq FINAL WHERE pipeline = '{pipeline}' "
                                f"AND error_class = 'rule_violation'")[0]["n"]

    def strict_done() -> bool:
        assert worker.alive(), worker.log_tail()
        try:
            return len(scored_ids()) >= len(events) and letters() >= len(wire)
        except QueryError:  # the worker's sink has not created the tables yet (test run alone)
            return False

    with WorkerProcess(strict, stack, tmp_path / "strict.log") as worker:
        wait_until(strict_done, 120, "the strict worker to score the events and dead-letter the 'wire' ones")
    relaxed_dir = tmp_path / "relaxed"
    relaxed_dir.mkdir()
    rules = {**cfg.rules.model_dump(exclude_none=True, exclude_defaults=True)}
    rules["allowed"] = {"channel": ["pos", "online", "atm", "wire"]}
    relaxed = write_config(relaxed_dir, pipeline, partitions=1, rules=rules)
    with WorkerProcess(relaxed, stack, tmp_path / "relaxed.log") as worker:
        res = eddy(stack, "dlq", "replay", "-c", str(relaxed), "--error-class", "rule_violation")
        assert f"sent {len(wire)} to {pipeline}.events" in res.stdout

        def all_scored() -> bool:
            assert worker.alive(), worker.log_tail()
            return len(scored_ids()) >= len(events) + len(wire)

        wait_until(all_scored, 120, "the replayed records to be scored by the relaxed worker")
    ids = Counter(scored_ids())
    assert set(ids) == {e["event_id"] for e in events + wire} and set(ids.values()) == {1}
    assert letters() == len(wire)  # the letters stay (history); nothing new was dead-lettered
