"""Load: many events through one worker process with its RSS sampled, plus Redis memory per key
and per served snapshot. CI runs EDDY_LOAD_EVENTS (default 100k); `EDDY_LOAD_EVENTS=1000000`
is the full drill (figures in docs/operations.md)."""

from __future__ import annotations

import os
import statistics
import threading
import time

import psutil
import pytest

from streams.config import load_config
from streams.harness import WorkerProcess, counters, produce_merged, wait_until
from streams.keyspace import key
from streams.wiring import redis_client
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = int(os.environ.get("EDDY_LOAD_EVENTS", "100000"))


def _memory_usage(client, pattern: str, sample: int = 200) -> float:  # noqa: ANN001
    keys = []
    for k in client.scan_iter(match=pattern, count=1000):
        keys.append(k)
        if len(keys) >= sample:
            break
    sizes = [client.memory_usage(k) or 0 for k in keys]
    return statistics.mean(sizes) if sizes else 0.0


@pytest.mark.timeout(1800)
def test_load_rss_bounded(own_stack, tmp_path):
    cfg_path = write_config(tmp_path, "drill_load", partitions=4)
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=12, n_cards=20_000, n_merchants=2_000)
    redis_url = own_stack.endpoints.redis
    rss: list[tuple[float, int]] = []
    with WorkerProcess(cfg_path, own_stack, extra_args=["--roles", "score,learn"]) as worker:
        proc = psutil.Process(worker.proc.pid)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    rss.append((time.monotonic(), proc.memory_info().rss))
                except psutil.Error:
                    return
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        produce_merged(cfg, own_stack, events, labels)
        wait_until(lambda: counters(cfg, redis_url).get("scored", 0) >= N, 1500, f"{N} events scored")
        elapsed = time.monotonic() - t0
        stop.set()
        assert worker.alive(), worker.log_tail()
    client = redis_client(redis_url)
    per_key = _memory_usage(client, key(cfg.pipeline, "st", "*"))
    per_snap = _memory_usage(client, key(cfg.pipeline, "snap", "*"))
    mb = [r / 2**20 for _, r in rss]
    q = max(1, len(mb) // 4)
    early, late = statistics.median(mb[:q]), statistics.median(mb[-q:])
    print(f"\n[load] {N} events through one worker in {elapsed:.0f}s ({N / elapsed:,.0f} events/s incl. produce); "
          f"RSS MiB first quarter {early:.0f}, last quarter {late:.0f}, peak {max(mb):.0f}; "
          f"Redis bytes per feature-state key {per_key:.0f}, per served snapshot {per_snap:.0f}")
    assert late < early * 1.5 + 150, "worker RSS kept growing under load"
