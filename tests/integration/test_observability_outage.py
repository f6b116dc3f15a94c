"""`/ready` follows Redis and ClickHouse: a worker on its own redis-server (or chDB server) turns
not-ready when that service stops, counts the errors of the batches it retries, logs the outage
once, and is ready again when the service is back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from streams.config import load_config
from streams.harness import WorkerProcess, produce_merged, wait_until
from streams.stack.binaries import redis_binary
from streams.stack.ports import free_port
from tests.integration.fixtures import fraud_generator, write_config
from tests.integration.test_observability import get, scrape, total

pytestmark = pytest.mark.integration

PIPELINE = "it_observability_outage"


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    proc = subprocess.Popen([str(redis_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _pong(port), 20, "redis-server to answer")
    return proc


def _pong(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.ConnectionError:
        return False


def ready(base: str) -> tuple[int, dict]:
    try:
        status, body = get(base + "/ready")
    except OSError:
        return 0, {}
    return status, json.loads(body)


def test_ready_turns_false_while_redis_is_down(stack, tmp_path):
    cfg_path = write_config(tmp_path, PIPELINE, partitions=1)
    cfg = load_config(cfg_path)
    events, _labels = fraud_generator().generate(400, seed=3)
    redis_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    redis_proc = start_redis(redis_port, tmp_path)
    worker = WorkerProcess(cfg_path, stack, log_path=tmp_path / "worker.log",
                           extra_args=["--metrics-port", str(port), "--log-format", "json", "--roles", "score"],
                           env={"EDDY_REDIS": f"redis://127.0.0.1:{redis_port}/0"})
    try:
        with worker:
            wait_until(lambda: ready(base)[0] == 200, 60, "the worker to be ready")
            produce_merged(cfg, stack, events[:200])
            wait_until(lambda: total(scrape(base), "eddy_events_scored_total") >= 200, 120, "the first events scored")

            redis_proc.terminate()
            redis_proc.wait(10)
            wait_until(lambda: ready(base)[0] == 503, 20, "/ready to report Redis down")
            _status, report = ready(base)
            assert report["checks"]["redis"]["ok"] is False and report["checks"]["kafka"]["ok"] is True
            assert get(base + "/health")[0] == 200  # alive: it retries, it does not die
            produce_merged(cfg, stack, events[200:])
            wait_until(lambda: total(scrape(base), "eddy_redis_errors_total") > 0, 60, "Redis errors to be counted")
            assert total(scrape(base), "eddy_outage", service="redis") == 1

            redis_proc = start_redis(redis_port, tmp_path)
            wait_until(lambda: ready(base)[0] == 200, 30, "/ready to recover")
            wait_until(lambda: total(scrape(base), "eddy_events_in_total") >= 400, 120, "the held batch to go through")
            assert worker.alive(), worker.log_tail()
            m = scrape(base)
            assert total(m, "eddy_outage", service="redis") == 0
        logged = [json.loads(ln).get("event") for ln in (tmp_path / "worker.log").read_text().splitlines()
                  if ln.startswith("{")]
        assert "outage_begin" in logged and "outage_end" in logged
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)


def start_chdb(port: int, path: Path, log: Path) -> subprocess.Popen:
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "analytics.server", "--path", str(path), "--port", str(port)],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115 - open while the server runs
    wait_until(lambda: _answers_http(port), 60, "the chDB server to answer")
    return proc


def _answers_http(port: int) -> bool:
    try:
        return get(f"http://127.0.0.1:{port}/?query=SELECT%201")[0] == 200
    except OSError:
        return False


def test_sink_outage_is_counted_and_ready_follows_clickhouse(stack, tmp_path):
    """A sink worker on its own chDB server: ClickHouse down -> not ready, flush errors counted,
    the batch held; ClickHouse back -> ready, every record written."""
    cfg_path = write_config(tmp_path, PIPELINE + "_ch", partitions=1)
    cfg = load_config(cfg_path)
    events, _labels = fraud_generator().generate(300, seed=4)
    ch_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    chdb = start_chdb(ch_port, tmp_path / "chdb", tmp_path / "chdb.log")
    worker = WorkerProcess(cfg_path, stack, log_path=tmp_path / "worker.log",
                           extra_args=["--metrics-port", str(port), "--log-format", "json", "--roles", "sink"],
                           env={"EDDY_CLICKHOUSE": f"http://127.0.0.1:{ch_port}"})
    try:
        with worker:
            wait_until(lambda: ready(base)[0] == 200, 60, "the sink worker to be ready")
            produce_merged(cfg, stack, events[:100])
            wait_until(lambda: total(scrape(base), "eddy_sink_records_total") >= 100, 60, "the first rows sunk")

            chdb.terminate()
            chdb.wait(20)
            wait_until(lambda: ready(base)[0] == 503, 20, "/ready to report ClickHouse down")
            assert ready(base)[1]["checks"]["clickhouse"]["ok"] is False
            produce_merged(cfg, stack, events[100:])
            wait_until(lambda: total(scrape(base), "eddy_clickhouse_errors_total") > 0, 60, "flush errors to be counted")
            m = scrape(base)
            assert total(m, "eddy_outage", service="clickhouse") == 1
            assert total(m, "eddy_sink_records_total") < 300  # the failing batch is held, not counted

            chdb = start_chdb(ch_port, tmp_path / "chdb", tmp_path / "chdb.log")
            wait_until(lambda: ready(base)[0] == 200, 30, "/ready to recover")
            wait_until(lambda: total(scrape(base), "eddy_sink_records_total") >= 300, 120, "the held batch to be written")
            assert total(scrape(base), "eddy_outage", service="clickhouse") == 0
            assert worker.alive(), worker.log_tail()
        logged = [json.loads(ln) for ln in (tmp_path / "worker.log").read_text().splitlines() if ln.startswith("{")]
        assert [r["service"] for r in logged if r.get("event") == "outage_begin"] == ["clickhouse"]
        assert [r["service"] for r in logged if r.get("event") == "outage_end"] == ["clickhouse"]
    finally:
        chdb.terminate()
        chdb.wait(20)


def test_a_worker_starts_without_redis_and_clickhouse_and_scores_without_clickhouse(stack, tmp_path):
    """DESIGN: scoring never waits on analytics. A default worker (score, learn, sink) started
    while Redis and ClickHouse are both down waits for Redis (it used to exit: a crash loop),
    scores with ClickHouse still down (it used to exit: the sink created its tables at start),
    and writes everything once ClickHouse answers."""
    import time

    cfg_path = write_config(tmp_path, PIPELINE + "_start", partitions=1)
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(200, seed=6)
    redis_port, ch_port, port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    worker = WorkerProcess(cfg_path, stack, log_path=tmp_path / "worker.log",
                           extra_args=["--metrics-port", str(port)],
                           env={"EDDY_REDIS": f"redis://127.0.0.1:{redis_port}/0",
                                "EDDY_CLICKHOUSE": f"http://127.0.0.1:{ch_port}"})
    redis_proc = chdb = None

    def metric(name: str) -> float:
        try:
            return total(scrape(base), name)
        except OSError:  # its metrics server starts with the app
            return 0.0

    try:
        worker.start()
        time.sleep(3)
        assert worker.alive(), worker.log_tail()
        assert "Redis does not answer" in worker.log_tail()
        redis_proc = start_redis(redis_port, tmp_path)
        produce_merged(cfg, stack, events, labels)
        wait_until(lambda: metric("eddy_events_scored_total") >= 200, 180, "scoring without ClickHouse")
        assert "ClickHouse unavailable at start" in worker.log_tail(20_000)

        chdb = start_chdb(ch_port, tmp_path / "chdb", tmp_path / "chdb.log")
        wait_until(lambda: metric("eddy_sink_records_total") >= 400, 120, "the held rows written")
        assert worker.alive(), worker.log_tail()
    finally:
        worker.kill()
        for proc in (redis_proc, chdb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
