"""Kafka TLS and SASL settings, from the environment, for every Kafka client Eddy makes.

| env var | meaning | default |
|---|---|---|
| `EDDY_KAFKA_SECURITY_PROTOCOL` | `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` | `PLAINTEXT` |
| `EDDY_KAFKA_SASL_MECHANISM` | `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` | `SCRAM-SHA-512` with SASL |
| `EDDY_KAFKA_USERNAME` / `EDDY_KAFKA_PASSWORD` | SASL credentials (the password is never printed) | |
| `EDDY_KAFKA_CA_FILE` | CA bundle to verify the brokers' certificates (TLS) | system CAs |

The same settings drive Faust (the worker), aiokafka (topic reads) and librdkafka (producers,
topic admin), so a secured cluster needs nothing but these variables.

>>> s = KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-512", username="eddy", password="hunter2")
>>> "hunter2" in repr(s), s.librdkafka()["sasl.mechanism"]
(False, 'SCRAM-SHA-512')
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from streams.exceptions import ConfigError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """How to reach a secured Kafka cluster."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"EDDY_KAFKA_SECURITY_PROTOCOL={self.protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                raise ConfigError(f"EDDY_KAFKA_SASL_MECHANISM={self.mechanism!r}: use one of {', '.join(MECHANISMS)}")
            if not self.username or self.password is None:
                raise ConfigError("SASL needs EDDY_KAFKA_USERNAME and EDDY_KAFKA_PASSWORD")
        if self.ca_file and not os.path.exists(self.ca_file):
            raise ConfigError(f"EDDY_KAFKA_CA_FILE={self.ca_file} does not exist")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> KafkaSecurity:
        e = os.environ if env is None else env
        protocol = e.get("EDDY_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
        mechanism = e.get("EDDY_KAFKA_SASL_MECHANISM") or ("SCRAM-SHA-512" if protocol.startswith("SASL") else None)
        return cls(protocol, mechanism, e.get("EDDY_KAFKA_USERNAME"), e.get("EDDY_KAFKA_PASSWORD"),
                   e.get("EDDY_KAFKA_CA_FILE"))

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.tls else None

    def librdkafka(self) -> dict[str, Any]:
        """confluent-kafka settings."""
        conf: dict[str, Any] = {"security.protocol": self.protocol}
        if self.sasl:
            conf.update({"sasl.mechanism": self.mechanism, "sasl.username": self.username, "sasl.password": self.password})
        if self.tls and self.ca_file:
            conf["ssl.ca.location"] = self.ca_file
        return conf

    def aiokafka(self) -> dict[str, Any]:
        """aiokafka client keyword arguments."""
        kw: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            kw.update({"sasl_mechanism": self.mechanism, "sasl_plain_username": self.username,
                       "sasl_plain_password": self.password})
        if self.tls:
            kw["ssl_context"] = self.ssl_context()
        return kw

    def faust_credentials(self) -> Any:
        """Faust's `broker_credentials` (None for plaintext)."""
        if self.sasl:
            import faust

            return faust.SASLCredentials(username=self.username, password=self.password,
                                         ssl_context=self.ssl_context(), mechanism=self.mechanism)
        return self.ssl_context()
