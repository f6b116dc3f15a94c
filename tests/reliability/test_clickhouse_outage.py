"""ClickHouse down for a while: scoring continues, the sink holds its batch (Kafka keeps the
messages), catches up when ClickHouse returns, and nothing is lost or duplicated."""

from __future__ import annotations

import signal
import time

import pytest

from analytics import connect
from streams.config import load_config
from streams.harness import WorkerGroup, WorkerProcess, counters, labels_done, produce_merged, wait_until
from streams.stack import start_service, stop_service
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def drill(tmp_path, pipeline: str, n: int, seed: int, first: int):  # noqa: ANN001, ANN201 - test helper
    """(config path, config, events, labels, before, after) of a fraud run on 2 partitions;
    `before` holds the first `first` events and the labels before them, `after` the rest (each
    an (events, labels) pair for `produce_merged`)."""
    cfg_path = write_config(tmp_path, pipeline, partitions=2)
    events, labels = fraud_generator().generate(n, seed=seed)
    cut = events[first]["ts"]
    before = (events[:first], [lab for lab in labels if lab["ts"] < cut])
    after = (events[first:], [lab for lab in labels if lab["ts"] >= cut])
    return cfg_path, load_config(cfg_path), events, labels, before, after


def test_clickhouse_outage_loses_nothing(own_stack, tmp_path):
    cfg_path, cfg, events, labels, before, after = drill(tmp_path, "drill_ch", 3000, seed=5, first=1500)
    redis_url = own_stack.endpoints.redis
    with WorkerGroup.per_role(cfg_path, own_stack) as group:
        produce_merged(cfg, own_stack, *before)
        wait_until(lambda: counters(cfg, redis_url).get("scored", 0) >= len(before[0]), 120, "the first half scored")

        stop_service(own_stack.home, "clickhouse")
        down_at = time.monotonic()
        produce_merged(cfg, own_stack, *after)
        wait_until(lambda: counters(cfg, redis_url).get("scored", 0) >= len(events), 120,
                   "scoring to go on while ClickHouse is down")
        wait_until(lambda: labels_done(counters(cfg, redis_url)) >= len(labels), 120, "learning to go on")
        assert group.alive(), group.log_tail()
        time.sleep(2)  # let the sink hit the outage and back off

        start_service(own_stack.home, "clickhouse")
        ch = connect(own_stack.endpoints.clickhouse)
        q = f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions WHERE pipeline = '{cfg.pipeline}' AND model = 'logreg'"
        wait_until(lambda: ch.query(q)[0]["n"] >= len(events), 180, "the sink to catch up")
        recovered_s = time.monotonic() - down_at
        wait_until(lambda: ch.query(f"SELECT count() AS n FROM eddy.labels WHERE pipeline = '{cfg.pipeline}'")[0]["n"] >= len(labels),
                   60, "labels to catch up")
        assert group.alive(), group.log_tail()
    row = ch.query(q)[0]
    lost = len(events) - row["ids"]
    duplicated = row["n"] - row["ids"]
    print(f"\n[clickhouse outage] events sent {len(events)}, lost {lost}, duplicated {duplicated}, "
          f"outage to caught-up {recovered_s:.1f}s")
    assert (lost, duplicated) == (0, 0)


def test_a_sink_stopped_during_the_outage_exits_at_once_and_its_successor_writes_everything_once(own_stack, tmp_path):
    """SIGTERM of the sink (a rolling deploy) while ClickHouse is down: it stops without waiting for
    ClickHouse and commits nothing it has not written; a new sink, started once ClickHouse is
    back, writes every record exactly once."""
    cfg_path, cfg, events, labels, before, after = drill(tmp_path, "drill_ch_stop", 1500, seed=17, first=500)
    redis_url = own_stack.endpoints.redis
    p = cfg.pipeline
    ch = connect(own_stack.endpoints.clickhouse)

    def archived() -> int:
        return ch.query(f"SELECT count() AS n FROM eddy.events_archive WHERE pipeline = '{p}'")[0]["n"]

    group = WorkerGroup.per_role(cfg_path, own_stack)
    with group:
        group.wait_consuming(cfg)
        produce_merged(cfg, own_stack, *before)
        wait_until(lambda: archived() >= len(before[0]), 120, "the first third in ClickHouse")
        stop_service(own_stack.home, "clickhouse")
        try:
            produce_merged(cfg, own_stack, *after)
            wait_until(lambda: counters(cfg, redis_url).get("scored", 0) >= len(events)
                       and labels_done(counters(cfg, redis_url)) >= len(labels), 120, "scoring and learning")
            sink = group.workers["sink"]
            wait_until(lambda: "ClickHouse unavailable" in sink.log_tail(20_000), 60, "the sink to hold its batch")
            t0 = time.monotonic()
            sink.proc.send_signal(signal.SIGTERM)
            sink.proc.wait(30)
            stop_s = time.monotonic() - t0
            assert "stopping while ClickHouse is unavailable" in sink.log_tail(20_000), sink.log_tail()
        finally:
            start_service(own_stack.home, "clickhouse")
        ch = connect(own_stack.endpoints.clickhouse)
        successor = WorkerProcess(cfg_path, own_stack, own_stack.home / "logs" / "drill-ch-stop-sink2.log",
                                  ["--roles", "sink"]).start()
        try:
            q = (f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions "
                 f"WHERE pipeline = '{p}' AND model = 'logreg'")
            wait_until(lambda: ch.query(q)[0]["n"] >= len(events) and archived() >= len(events), 180,
                       "the new sink to write the rest")
            wait_until(lambda: ch.query(f"SELECT count() AS n FROM eddy.labels WHERE pipeline = '{p}'")[0]["n"]
                       >= len(labels), 60, "the labels")
            time.sleep(2)  # anything written twice would show now
        finally:
            successor.stop()
    print(f"\n[sink stop during clickhouse outage] SIGTERM to exit {stop_s:.1f}s")
    assert stop_s < 15, f"the sink waited {stop_s:.1f}s for ClickHouse"
    assert ch.query(q)[0] == {"n": len(events), "ids": len(events)}
    assert archived() == len(events)
    assert ch.query(f"SELECT count() AS n FROM eddy.labels WHERE pipeline = '{p}'")[0]["n"] == len(labels)
