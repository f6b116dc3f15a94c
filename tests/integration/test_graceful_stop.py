"""A rolling restart: one of two scorers (`--roles score`, 2 partitions) gets SIGTERM mid-backlog.
It finishes its batch in flight, commits it and leaves the events group (LeaveGroup, also in
Tansu's generation 0, which aiokafka skipped); the other scorer takes its partition over from
those offsets. Nothing the stopping worker handled is handled again: no redelivered event, every
event scored exactly once. (It used to cancel the batch mid-handle and not leave the group:
~9 s without a scorer for its partition and the batch redelivered.)

The same for one of two sinks (`--roles sink`), whose topics Faust's own consumer reads: it leaves
the group in generation 0 too (`streams.app._hook_faust_consumers`), and the other sink takes its
partitions over in the next generation. (It used to wait for the session timeout: ~10 s without a
sink for half the partitions.)"""

from __future__ import annotations

import re
import signal

import pytest

from streams.app import app_id
from streams.config import load_config
from streams.harness import WorkerProcess, counters, produce_merged, wait_until
from streams.kafka_io import read_topic
from streams.wiring import Codecs, schema_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

WARM = 20
N = 6000  # a backlog: the stopped worker is busy with its partition when the signal comes
SINK_N = 400


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graceful-stop")
    cfg_path = write_config(tmp, "it_graceful_stop", partitions=2, worker={"batch_size": 50})
    cfg = load_config(cfg_path)
    events, _ = fraud_generator().generate(N, seed=43)
    logs = stack.home / "logs"
    a, b = (WorkerProcess(cfg_path, stack, logs / f"graceful-stop-{n}.log", ["--roles", "score"]) for n in "ab")
    a.start()
    b.start()
    try:
        produce_merged(cfg, stack, events[:WARM], [])

        def two_scorers() -> bool:
            assert a.alive(), a.log_tail()
            assert b.alive(), b.log_tail()
            return sorted(a.assigned(cfg.topics.events) + b.assigned(cfg.topics.events)) == [0, 1] \
                and counters(cfg, stack.endpoints.redis).get("scored", 0) >= WARM

        wait_until(two_scorers, 180, "two scorers with a partition each")
        produce_merged(cfg, stack, events[WARM:], [])
        wait_until(lambda: counters(cfg, stack.endpoints.redis).get("scored", 0) >= WARM + 300, 120,
                   "the backlog to be under way")
        a.proc.send_signal(signal.SIGTERM)
        a.proc.wait(60)

        def served() -> bool:  # a redelivered event is served again but not counted as scored
            assert b.alive(), b.log_tail()
            c = counters(cfg, stack.endpoints.redis)
            return c.get("scored", 0) + c.get("redelivered", 0) >= N

        wait_until(served, 240, "every event served")
        final = counters(cfg, stack.endpoints.redis)
    finally:
        a.stop()
        b.stop()
    codecs = Codecs.build(cfg, schema_registry(None, stack.home))
    scores = [codecs.codec.decode(m.value) for m in read_topic(stack.endpoints.kafka, cfg.topics.scores)]
    return {"counters": final, "events": events, "a_log": a.log_path.read_text(errors="replace"),
            "scored_ids": [s["event_id"] for s in scores if not s["shadow"]]}


def test_the_stopped_worker_left_the_group(run):
    log = run["a_log"]
    assert "Signal received: 15" in log
    # the events feed's LeaveGroup: it stops (app.on_stop) before Faust's consumer, which leaves too
    before_faust = log.split("Signal received: 15")[1].split("AIOKafkaConsumerThread]: Stopping")[0]
    assert "LeaveGroup request succeeded" in before_faust, log[-3000:]


def test_nothing_it_handled_is_redelivered(run):
    assert run["counters"].get("redelivered", 0) == 0
    assert "not committed" not in run["a_log"] and "did not finish" not in run["a_log"]


def test_every_event_is_scored_exactly_once(run):
    ids = run["scored_ids"]
    assert len(ids) == len(set(ids)) == N
    assert set(ids) == {e["event_id"] for e in run["events"]}


def generations(log: str, group: str) -> list[int]:
    """The generations a worker joined `group` in, in order (aiokafka's `Joined group` lines)."""
    return [int(g) for g in re.findall(rf"Joined group '{re.escape(group)}' \(generation (-?\d+)\)", log)]


@pytest.fixture(scope="module")
def sinks(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graceful-stop-sink")
    cfg_path = write_config(tmp, "it_graceful_stop_sink", partitions=2)
    cfg = load_config(cfg_path)
    events, _ = fraud_generator().generate(SINK_N, seed=44)
    logs = stack.home / "logs"
    a, b = (WorkerProcess(cfg_path, stack, logs / f"graceful-stop-sink-{n}.log", ["--roles", "sink"]) for n in "ab")

    def archived() -> int:
        return clickhouse.query(f"SELECT uniqExact(event_id) AS n FROM eddy.events_archive "
                                f"WHERE pipeline = '{cfg.pipeline}'")[0]["n"]

    a.start()
    b.start()
    try:
        produce_merged(cfg, stack, events[:WARM], [])

        def two_sinks() -> bool:
            assert a.alive(), a.log_tail()
            assert b.alive(), b.log_tail()
            return sorted(a.assigned(cfg.topics.events) + b.assigned(cfg.topics.events)) == [0, 1] \
                and archived() >= WARM

        wait_until(two_sinks, 180, "two sinks with a partition each")
        a_parts = a.assigned(cfg.topics.events)
        a.proc.send_signal(signal.SIGTERM)
        a.proc.wait(60)
        produce_merged(cfg, stack, events[WARM:], [])  # half of them only A's partition's new owner sinks

        def taken_over() -> bool:
            assert b.alive(), b.log_tail()
            return b.assigned(cfg.topics.events) == [0, 1] and archived() >= SINK_N

        wait_until(taken_over, 120, "the other sink to take the partitions over and archive every event")
    finally:
        a.stop()
        b.stop()
    return {"a_log": a.log_path.read_text(errors="replace"), "b_log": b.log_path.read_text(errors="replace"),
            "a_parts": a_parts, "group": app_id(cfg.pipeline, frozenset({"sink"})) + ".sink", "archived": archived()}


def test_the_stopped_sink_left_the_group(sinks):
    log = sinks["a_log"]
    assert sinks["a_parts"]
    assert generations(log, sinks["group"])[-1] == 0, "both sinks should have joined in generation 0 (Tansu's first)"
    assert "Signal received: 15" in log
    assert "LeaveGroup request succeeded" in log.split("Signal received: 15")[1], log[-3000:]


def test_the_other_sink_took_its_partitions_over_in_the_next_generation(sinks):
    joined = generations(sinks["b_log"], sinks["group"])
    assert joined[0] == 0 and joined[-1] > 0, joined
    assert sinks["archived"] == SINK_N
