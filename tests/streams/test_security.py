"""Secrets never leak: Kafka credentials, Redis and ClickHouse URLs are redacted everywhere."""

from __future__ import annotations

import pytest

from streams.endpoints import Endpoints, redact
from streams.exceptions import ConfigError
from streams.kafka_security import KafkaSecurity


def test_kafka_security_from_env_maps_to_every_client():
    env = {"EDDY_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "EDDY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
           "EDDY_KAFKA_USERNAME": "eddy", "EDDY_KAFKA_PASSWORD": "p@ss:word"}
    sec = KafkaSecurity.from_env(env)
    assert sec.librdkafka() == {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
                                "sasl.username": "eddy", "sasl.password": "p@ss:word"}
    assert sec.aiokafka()["sasl_plain_password"] == "p@ss:word"
    creds = sec.faust_credentials()
    assert creds.username == "eddy" and "p@ss" not in repr(creds)
    assert "p@ss" not in repr(sec) and "p@ss" not in str(sec)


def test_plaintext_is_the_default():
    sec = KafkaSecurity.from_env({})
    assert sec.librdkafka() == {"security.protocol": "PLAINTEXT"} and sec.faust_credentials() is None


@pytest.mark.parametrize("env", [
    {"EDDY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},  # no credentials
    {"EDDY_KAFKA_SECURITY_PROTOCOL": "TLS"},
    {"EDDY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "EDDY_KAFKA_SASL_MECHANISM": "MD5", "EDDY_KAFKA_USERNAME": "u",
     "EDDY_KAFKA_PASSWORD": "p"},
    {"EDDY_KAFKA_SECURITY_PROTOCOL": "SSL", "EDDY_KAFKA_CA_FILE": "/nonexistent/ca.pem"},
])
def test_bad_security_settings_are_clear_errors(env):
    with pytest.raises(ConfigError, match="EDDY_KAFKA"):
        KafkaSecurity.from_env(env)


def test_endpoint_urls_are_redacted_in_reprs():
    eps = Endpoints("k:9092", "redis://:s3cret@r:6379/0", "clickhouse://eddy:s3cret@ch:8123/eddy")
    assert "s3cret" not in repr(eps)
    assert redact("rediss://user:s3cret@r:6380/0") == "rediss://user:***@r:6380/0"


def test_password_in_redis_url_reaches_the_client_but_not_errors(monkeypatch):
    from streams.wiring import redis_client

    client = redis_client("redis://:s3cret@127.0.0.1:1/0")  # nothing listens on port 1
    assert client.connection_pool.connection_kwargs["password"] == "s3cret"
    import redis

    with pytest.raises(redis.ConnectionError) as err:
        client.ping()
    assert "s3cret" not in str(err.value)
