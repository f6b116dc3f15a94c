"""Issue 10, must show: a worker's `/metrics` agree with what landed in ClickHouse; `/health`,
`/ready` answer; the live dashboard renders real data in headless Chromium; JSON lifecycle logs.

One real `eddy worker --metrics-port P --log-format json` (all roles, 2 partitions) on the
embedded stack is fed fraud events, their delayed labels and some garbage bytes (DLQ).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.config import load_config
from streams.harness import WorkerProcess, produce_merged, wait_for_counters, wait_until
from streams.kafka_io import make_producer
from streams.stack.ports import free_port
from tests.integration.fixtures import fraud_generator, write_config

pytestmark = pytest.mark.integration

PIPELINE = "it_observability"
N = 1500
N_GARBAGE = 40
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"




def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """`/metrics` as {(sample name, sorted labels without pipeline): value}."""
    status, body = get(base + "/metrics")
    assert status == 200
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "pipeline"))
            out[(s.name, labels)] = s.value
    return out


def total(samples: dict, name: str, **match: str) -> float:
    return sum(v for (n, labels), v in samples.items()
               if n == name and all(dict(labels).get(k) == want for k, want in match.items()))


@pytest.fixture(scope="module")
def run(stack, clickhouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("observability")
    cfg_path = write_config(tmp, PIPELINE, partitions=2)
    cfg = load_config(cfg_path)
    events, labels = fraud_generator().generate(N, seed=5)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = WorkerProcess(cfg_path, stack, log_path=tmp / "worker.log",
                           extra_args=["--metrics-port", str(port), "--log-format", "json"])
    with worker:
        wait_until(lambda: worker.alive() and _answers(base + "/health"), 60, "the metrics server to answer")
        producer = make_producer(stack.endpoints.kafka)
        produce_merged(cfg, stack, events[: N // 2], [])
        for i in range(N_GARBAGE):  # no Confluent magic byte: bad_magic in the DLQ
            producer.send(cfg.topics.events, f"junk-{i}".encode(), b'{"not": "avro"} %d' % i)
        producer.flush()
        during = {}

        def some_scored() -> bool:
            assert worker.alive(), worker.log_tail()
            during.update(scrape(base))
            return total(during, "eddy_events_scored_total") > 0

        wait_until(some_scored, 120, "the first scores to show in /metrics")
        produce_merged(cfg, stack, events[N // 2:], labels)

        wait_for_counters(cfg, stack.endpoints.redis, worker, scored=N, labels=len(labels))

        def sunk() -> bool:
            q = clickhouse.query(
                f"SELECT (SELECT count() FROM eddy.predictions FINAL WHERE pipeline = '{PIPELINE}') AS p, "
                f"(SELECT count() FROM eddy.dlq FINAL WHERE pipeline = '{PIPELINE}') AS d")[0]
            return q["p"] >= N * 3 and q["d"] >= N_GARBAGE

        wait_until(sunk, 120, "the sink to write every prediction and dead letter")
        # the gauges follow within a tick or two: the served version after the next hot-swap, the lag
        wait_until(lambda: total(scrape(base), "eddy_model_version", model="logreg") > 1, 30,
                   "the served model version to show the learner's checkpoint")
        time.sleep(1.5)  # one more gauge tick (lag)
        yield {"cfg": cfg, "base": base, "worker": worker, "during": during, "tmp": tmp,
               "events": events, "labels": labels}


def _answers(url: str) -> bool:
    try:
        return get(url, 1.0)[0] == 200
    except OSError:
        return False


def test_metrics_match_clickhouse(run, clickhouse):
    base = run["base"]
    assert total(run["during"], "eddy_events_scored_total") > 0  # scraped while the run was going
    m = scrape(base)
    ch_models = {r["model"]: r["n"] for r in clickhouse.query(
        f"SELECT model, count() AS n FROM eddy.predictions FINAL WHERE pipeline = '{PIPELINE}' GROUP BY model")}
    assert set(ch_models) == {"logreg", "tree", "baseline"}
    for model, n in ch_models.items():
        assert total(m, "eddy_predictions_total", model=model) == n == N, model
    ch_scores = clickhouse.query(f"SELECT count() AS n FROM eddy.scores WHERE pipeline = '{PIPELINE}'")[0]["n"]
    assert total(m, "eddy_events_scored_total") == ch_scores == N
    ch_dlq = clickhouse.query(
        f"SELECT error_class, count() AS n FROM eddy.dlq FINAL WHERE pipeline = '{PIPELINE}' GROUP BY error_class")
    assert {r["error_class"]: r["n"] for r in ch_dlq} == {"bad_magic": N_GARBAGE}
    assert total(m, "eddy_dlq_total") == N_GARBAGE == total(m, "eddy_dlq_total", error_class="bad_magic")
    assert total(m, "eddy_events_in_total") == N + N_GARBAGE
    ch_labels = clickhouse.query(f"SELECT count() AS n FROM eddy.labels FINAL WHERE pipeline = '{PIPELINE}'")[0]["n"]
    assert total(m, "eddy_labels_in_total") == ch_labels == len(run["labels"])
    assert total(m, "eddy_labels_total", status="learned") == len(run["labels"])  # early ones included, once


def test_metrics_cover_lag_batches_latency_and_models(run):
    m = scrape(run["base"])
    cfg = run["cfg"]
    lag = {dict(lb)["partition"]: v for (n, lb), v in m.items()
           if n == "eddy_consumer_lag" and dict(lb)["topic"] == cfg.topics.events}
    assert lag == {"0": 0.0, "1": 0.0}  # everything consumed
    assert total(m, "eddy_consumer_position", topic=cfg.topics.events) == N + N_GARBAGE
    assert total(m, "eddy_batch_size_count", agent="score") > 0
    assert total(m, "eddy_batch_size_sum", agent="score") == N + N_GARBAGE
    for stage in ("decode", "features", "predict", "snapshot", "snapshot_fetch", "score", "produce", "learn", "sink_flush"):
        assert total(m, "eddy_stage_seconds_count", stage=stage) > 0, stage
    assert total(m, "eddy_model_version", model="logreg") > 1
    assert total(m, "eddy_model_champion", model="logreg") == 1
    assert total(m, "eddy_model_metric", model="logreg", metric="n") == len(run["labels"])
    assert total(m, "eddy_redis_errors_total") == 0 and total(m, "eddy_clickhouse_errors_total") == 0
    assert total(m, "eddy_sink_records_total", topic=cfg.topics.scores) == N


def test_health_and_ready(run):
    status, body = get(run["base"] + "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = get(run["base"] + "/ready")
    report = json.loads(body)
    assert status == 200 and report["ready"] is True, report
    assert set(report["checks"]) == {"kafka", "redis", "clickhouse"}
    assert get(run["base"] + "/nope")[0] == 404


def test_json_lifecycle_logs(run):
    lines = [ln for ln in Path(run["worker"].log_path).read_text().splitlines() if ln.startswith("{")]
    recs = [json.loads(ln) for ln in lines]
    events = {r.get("event") for r in recs}
    assert {"start", "metrics_server", "assignment", "model_version"} <= events, events
    start = next(r for r in recs if r.get("event") == "start")
    assert start["pipeline"] == PIPELINE and start["roles"] == ["learn", "score", "sink"]
    # no per-event noise: far fewer log lines than events
    assert len(lines) < N / 5, len(lines)


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / f"chrome-profile-{time.monotonic_ns()}"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1280,1600", "--virtual-time-budget=4000",
            "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_dashboard_renders_in_headless_chromium(run):
    """The page fetches /api/summary and shows real numbers; no console errors; a screenshot."""
    url = run["base"] + "/dashboard"
    dom = _chromium(["--dump-dom", url], run["tmp"])
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert re.search(r'id="events-total">([\d,]+)<', html), html[:2000]
    events_total = int(re.search(r'id="events-total">([\d,]+)<', html).group(1).replace(",", ""))
    assert events_total == N + N_GARBAGE
    peak = int(re.search(r'id="peak-rate">([\d,]+)<', html).group(1).replace(",", ""))
    assert peak > 0  # throughput over the last two minutes, from the per-second series
    assert "logreg" in html and "bad_magic" in html and "country" in html
    assert 'id="status" class="ok">healthy' in html
    console = "\n".join(ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln)
    assert "Uncaught" not in console and "ERROR:CONSOLE" not in console, console
    shots = Path(run["tmp"]) / "shots"
    shots.mkdir(exist_ok=True)
    png = shots / "dashboard.png"
    shot = _chromium([f"--screenshot={png}", url], run["tmp"])
    assert shot.returncode == 0 and png.exists() and png.stat().st_size > 20_000, shot.stderr[-2000:]
    assert "Uncaught" not in shot.stderr
    keep = Path("/tmp/eddy-dashboard.png")
    shutil.copy(png, keep)  # for a human to look at


def test_status_shows_workers_models_and_alerts(run, stack, clickhouse):
    """`eddy status`: the live worker (heartbeat), model versions from the registry, last alerts."""
    from typer.testing import CliRunner

    from streams.cli.main import app

    result = CliRunner().invoke(app, ["status", "--home", str(stack.home)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{PIPELINE}: workers" in out and "learn,score,sink" in out and run["base"] in out
    assert f"{PIPELINE}: models" in out
    version = int(total(scrape(run["base"]), "eddy_model_version", model="logreg"))
    assert re.search(rf"logreg\s*│\s*champion\s*│\s*{version}\b", out), out
    n_alerts = clickhouse.query(f"SELECT count() AS n FROM eddy.alerts WHERE pipeline = '{PIPELINE}'")[0]["n"]
    assert (f"{PIPELINE}: last alerts" in out) == (n_alerts > 0), out
    # the sink worker recorded its database: status reads the alerts there (`sink.database`)
    import redis

    from streams.keyspace import sink_database_key

    assert redis.Redis.from_url(stack.endpoints.redis).get(sink_database_key(PIPELINE)) == run["cfg"].sink.database.encode()
