"""Redis restarted mid-stream (its state lost): Eddy reconnects without a crash loop, detects the
loss, raises a `state_lost` alert, flags the affected scores degraded and keeps model versions
going up; every event is still scored exactly once."""

from __future__ import annotations

import time

import pytest

from analytics import connect, ensure_schema
from streams.config import load_config
from streams.harness import WorkerGroup, counters, produce_merged, wait_until
from streams.stack import start_service, stop_service
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_redis_restart_is_detected_and_flagged(own_stack, tmp_path):
    cfg_path = write_config(tmp_path, "drill_redis", partitions=2)
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(3000, seed=6)
    half = len(events) // 2
    cut = events[half]["ts"]
    ch = connect(own_stack.endpoints.clickhouse)
    ensure_schema(ch, "eddy")
    scored_q = (f"SELECT count() AS n, uniqExact(event_id) AS ids, max(model_version) AS v, sum(degraded) AS degraded "
                f"FROM eddy.predictions WHERE pipeline = '{cfg.pipeline}' AND model = 'logreg'")
    with WorkerGroup.per_role(cfg_path, own_stack) as group:
        pids = {r: w.proc.pid for r, w in group.workers.items()}
        produce_merged(cfg, own_stack, events[:half], [lab for lab in labels if lab["ts"] < cut])
        wait_until(lambda: ch.query(scored_q)[0]["n"] >= half, 120, "the first half in ClickHouse")
        time.sleep(2)  # let the learner publish a few versions
        before = ch.query(scored_q)[0]

        stop_service(own_stack.home, "redis")
        time.sleep(2)
        start_service(own_stack.home, "redis")  # empty: no persistence
        t0 = time.monotonic()
        produce_merged(cfg, own_stack, events[half:], [lab for lab in labels if lab["ts"] >= cut])
        wait_until(lambda: ch.query(scored_q)[0]["n"] >= len(events), 180, "the second half in ClickHouse")
        recovery_s = time.monotonic() - t0
        wait_until(lambda: ch.query(f"SELECT count() AS n FROM eddy.alerts WHERE pipeline = '{cfg.pipeline}' "
                                    f"AND kind = 'state_lost'")[0]["n"] >= 1, 60, "the state_lost alert")
        assert group.alive(), group.log_tail()
        assert {r: w.proc.pid for r, w in group.workers.items()} == pids  # no restarts
        assert counters(cfg, own_stack.endpoints.redis).get("state_lost", 0) >= 1
    after = ch.query(scored_q)[0]
    print(f"\n[redis restart] events sent {len(events)}, lost {len(events) - after['ids']}, "
          f"duplicated {after['n'] - after['ids']}, degraded scores {after['degraded']}, "
          f"versions {before['v']} -> {after['v']}, second half scored in {recovery_s:.1f}s")
    assert after["n"] == after["ids"] == len(events)
    assert after["degraded"] > 0
    assert after["v"] > before["v"]  # versions continued, no reset to 1
