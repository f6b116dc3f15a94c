"""A rolling restart: one of two scorers (`--roles score`, 2 partitions) gets SIGTERM mid-backlog.
It finishes its batch in flight, commits it and leaves the events group (LeaveGroup, also in
Tansu's generation 0, which aiokafka skipped); the other scorer takes its partition over from
those offsets. Nothing the stopping worker handled is handled again: no redelivered event, every
event scored exactly once. (It used to cancel the batch mid-handle and not leave the group:
~9 s without a scorer for its partition and the batch redelivered.)"""

from __future__ import annotations

import signal

import pytest

from streams.config import load_config
from streams.harness import WorkerProcess, counters, produce_merged, wait_until
from streams.kafka_io import read_topic
from streams.wiring import Codecs, schema_registry
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

WARM = 20
N = 6000  # a backlog: the stopped worker is busy with its partition when the signal comes


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
    assert "LeaveGroup request succeeded" in log.split("Signal received: 15")[1], log[-3000:]


def test_nothing_it_handled_is_redelivered(run):
    assert run["counters"].get("redelivered", 0) == 0
    assert "not committed" not in run["a_log"] and "did not finish" not in run["a_log"]


def test_every_event_is_scored_exactly_once(run):
    ids = run["scored_ids"]
    assert len(ids) == len(set(ids)) == N
    assert set(ids) == {e["event_id"] for e in run["events"]}
