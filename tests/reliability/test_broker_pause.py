"""The broker unreachable for a while (process frozen, as in a network partition): workers wait
and reconnect without a crash loop; every event is scored exactly once afterwards.

Tansu keeps topics in memory only, so a broker *restart* would lose the data itself; a pause
is the outage this stack can stage faithfully."""

from __future__ import annotations

import os
import signal
import time

import pytest

from analytics import connect, ensure_schema
from streams.config import load_config
from streams.harness import WorkerGroup, produce_merged, wait_until
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAUSE_S = 12


def test_broker_pause_loses_nothing(own_stack, tmp_path):
    cfg_path = write_config(tmp_path, "drill_broker", partitions=2)
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(3000, seed=8)
    half = len(events) // 2
    cut = events[half]["ts"]
    ch = connect(own_stack.endpoints.clickhouse)
    ensure_schema(ch, "eddy")
    q = (f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.predictions "
         f"WHERE pipeline = '{cfg.pipeline}' AND model = 'logreg'")
    broker = own_stack.state.pids["kafka"]
    with WorkerGroup.per_role(cfg_path, own_stack) as group:
        pids = {r: w.proc.pid for r, w in group.workers.items()}
        produce_merged(cfg, own_stack, events[:half], [lab for lab in labels if lab["ts"] < cut])
        wait_until(lambda: ch.query(q)[0]["n"] >= half, 120, "the first half in ClickHouse")
        os.kill(broker, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_S)
            assert group.alive(), group.log_tail()
        finally:
            os.kill(broker, signal.SIGCONT)
        t0 = time.monotonic()
        produce_merged(cfg, own_stack, events[half:], [lab for lab in labels if lab["ts"] >= cut])
        wait_until(lambda: ch.query(q)[0]["n"] >= len(events), 180, "the second half in ClickHouse")
        recovery_s = time.monotonic() - t0
        assert group.alive(), group.log_tail()
        assert {r: w.proc.pid for r, w in group.workers.items()} == pids
    row = ch.query(q)[0]
    print(f"\n[broker pause {PAUSE_S}s] events sent {len(events)}, lost {len(events) - row['ids']}, "
          f"duplicated {row['n'] - row['ids']}, second half scored {recovery_s:.1f}s after the broker returned")
    assert row["n"] == row["ids"] == len(events)
