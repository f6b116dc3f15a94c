"""A pipeline on a secured stack, driven only by EDDY_* variables: Kafka over TLS with SASL/SCRAM,
Redis with a password over TLS, ClickHouse with a user and password. Every event is scored and
sunk; wrong or missing credentials are refused with a clear error; no secret appears in a log,
an error, a manifest or a ClickHouse table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis

from analytics.backends import connect
from streams.config import load_config
from streams.harness import WorkerProcess, wait_for_counters, wait_until, write_jsonl
from tests.integration.fixtures import fraud_generator, write_config
from tests.reliability.certs import make_tls_files
from tests.reliability.secure_stack import SecureStack

pytestmark = pytest.mark.integration

N = 400
SECRETS = {"kafka": "kafka-S3cret-7f1", "redis": "redis-S3cret-9c2", "clickhouse": "ch-S3cret-4b8"}


def eddy(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], check=False, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


def assert_no_secret(text: str, where: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"the {name} password leaked into {where}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    home = tmp_path_factory.mktemp("secure")
    with SecureStack(home, SECRETS["kafka"], SECRETS["redis"], SECRETS["clickhouse"]) as stack:
        cfg_path = write_config(home, "sec_e2e", partitions=2)
        cfg = load_config(cfg_path)
        events, labels = fraud_generator().generate(N, seed=5)
        write_jsonl(home / "events.jsonl", events)
        write_jsonl(home / "labels.jsonl", labels)
        t0 = time.monotonic()
        produced = [eddy("produce", "-c", str(cfg_path), "--topic", topic, str(home / f"{topic}.jsonl"),
                         env=stack.env()) for topic in ("events", "labels")]
        for p in produced:
            assert p.returncode == 0, p.stdout + p.stderr
        with WorkerProcess(cfg_path, stack, env=stack.env()) as worker:
            wait_for_counters(cfg, stack.endpoints.redis, worker, scored=N, labels=N, timeout=180)
            ch = connect(stack.endpoints.clickhouse)
            wait_until(lambda: ch.query(f"SELECT count() AS n FROM eddy.scores WHERE pipeline = '{cfg.pipeline}'")
                       [0]["n"] >= N, 90, "the scores in ClickHouse")
            seconds = time.monotonic() - t0
        print(f"\nsecured stack: {N} events and {N} labels through Kafka SASL_SSL (SCRAM-SHA-512), "
              f"Redis TLS + password, ClickHouse user + password in {seconds:.1f}s; "
              f"SASL logins ok={stack.kafka_gate.attempts['ok']}")
        yield dict(stack=stack, cfg=cfg, cfg_path=cfg_path, worker_log=worker.log_tail(10**7),
                   produce_output="".join(p.stdout + p.stderr for p in produced), ch=ch)


def test_every_event_is_scored_and_sunk_through_the_secured_stack(secured):
    ch, cfg = secured["ch"], secured["cfg"]
    rows = ch.query(f"SELECT count() AS n, uniqExact(event_id) AS ids FROM eddy.scores "
                    f"WHERE pipeline = '{cfg.pipeline}'")
    assert rows == [{"n": N, "ids": N}]
    assert secured["stack"].kafka_gate.attempts["ok"] >= 3  # producer, admin, worker connections all logged in


def test_no_secret_in_logs_outputs_manifests_or_clickhouse(secured):
    assert_no_secret(secured["worker_log"], "the worker's log")
    assert_no_secret(secured["produce_output"], "`eddy produce` output")
    ch = secured["ch"]
    tables = [r["name"] for r in ch.query("SELECT name FROM system.tables WHERE database = 'eddy' "
                                          "AND engine NOT LIKE '%View%'")]
    assert "runs" in tables and "predictions" in tables
    for table in tables:
        dump = "\n".join(map(str, ch.query(f"SELECT * FROM eddy.{table}")))
        assert_no_secret(dump, f"ClickHouse table eddy.{table}")
    manifest = ch.query(f"SELECT * FROM eddy.runs WHERE pipeline = '{secured['cfg'].pipeline}'")
    assert manifest, "the live run's manifest is in ClickHouse"
    status = eddy("status", env=secured["stack"].env())
    assert_no_secret(status.stdout + status.stderr, "`eddy status`")


def test_a_wrong_kafka_password_is_refused_with_a_clear_error(secured):
    stack = secured["stack"]
    before = stack.kafka_gate.attempts["failed"]
    wrong = "not-the-password-31"
    p = eddy("produce", "-c", str(secured["cfg_path"]), "--topic", "events", str(stack.home / "events.jsonl"),
             env=stack.env(EDDY_KAFKA_PASSWORD=wrong), timeout=120)
    assert p.returncode != 0
    assert "the broker refused the credentials" in p.stderr and "EDDY_KAFKA_PASSWORD" in p.stderr, p.stderr
    assert wrong not in p.stdout + p.stderr
    assert stack.kafka_gate.attempts["failed"] > before


def test_a_broker_certificate_from_another_ca_is_refused(secured, tmp_path):
    stack = secured["stack"]
    other = make_tls_files(tmp_path / "other-ca")
    p = eddy("produce", "-c", str(secured["cfg_path"]), "--topic", "events", str(stack.home / "events.jsonl"),
             env=stack.env(EDDY_KAFKA_CA_FILE=str(other.ca)), timeout=120)
    assert p.returncode != 0
    assert "TLS handshake failed" in p.stderr and "EDDY_KAFKA_CA_FILE" in p.stderr, p.stderr


def test_plaintext_kafka_clients_cannot_talk_to_the_tls_listener(secured):
    stack = secured["stack"]
    p = eddy("produce", "-c", str(secured["cfg_path"]), "--topic", "events", str(stack.home / "events.jsonl"),
             env={**stack.env(), "EDDY_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, timeout=120)
    assert p.returncode != 0


def test_redis_refuses_clients_without_the_password_or_without_tls(secured):
    stack = secured["stack"]
    url = stack.endpoints.redis
    assert redis.Redis.from_url(url).ping()
    no_password = url.replace(f":{SECRETS['redis']}@", "")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(no_password).ping()
    plaintext = no_password.replace("rediss://", "redis://").split("?")[0]
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(plaintext, socket_timeout=3).ping()


def test_clickhouse_needs_the_user_and_password(secured):
    stack = secured["stack"]
    url = f"http://127.0.0.1:{stack.clickhouse_port}"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}/?query=SELECT%201", timeout=10)
    assert info.value.code == 401
    ok = eddy("sql", "SELECT count() AS n FROM eddy.scores", env=stack.env())
    assert ok.returncode == 0 and str(N) in ok.stdout, ok.stdout + ok.stderr
    wrong = eddy("sql", "SELECT 1", env=stack.env(EDDY_CLICKHOUSE=f"http://analyst:nope-77@127.0.0.1:"
                                                                    f"{stack.clickhouse_port}"))
    assert wrong.returncode != 0 and "516" in wrong.stdout + wrong.stderr and "nope-77" not in wrong.stdout + wrong.stderr
