"""Where Kafka, Redis and ClickHouse are: flags, then env vars, then the running embedded stack.

| service    | flag           | env var           | example                                        |
|------------|----------------|-------------------|------------------------------------------------|
| Kafka      | `--kafka`      | `EDDY_KAFKA`      | `broker1:9092,broker2:9092`                    |
| Redis      | `--redis`      | `EDDY_REDIS`      | `redis://:secret@redis:6379/0`, `rediss://...` |
| ClickHouse | `--clickhouse` | `EDDY_CLICKHOUSE` | `http://127.0.0.1:8123` (Eddy's chDB server), `clickhouse://user:pw@ch:8123/eddy`, `chdb:///abs/folder` |
| stack home | `--home`       | `EDDY_HOME`       | `./.eddy` (where `eddy up` records the stack)  |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from streams.exceptions import EndpointError
from streams.stack.manager import StackState

_SECRET = re.compile(r"(//[^:/@]*:)([^@]+)(@)")


def redact(url: str) -> str:
    """Hide the password part of a URL.

    >>> redact("redis://:hunter2@host:6379/0")
    'redis://:***@host:6379/0'
    """
    return _SECRET.sub(r"\1***\3", url)


def default_home() -> Path:
    return Path(os.environ.get("EDDY_HOME", ".eddy"))


@dataclass(frozen=True)
class Endpoints:
    """Resolved service addresses for one command."""

    kafka: str
    redis: str
    clickhouse: str

    def __repr__(self) -> str:
        return f"Endpoints(kafka={self.kafka!r}, redis={redact(self.redis)!r}, clickhouse={redact(self.clickhouse)!r})"

    @property
    def kafka_url(self) -> str:
        """The broker list in Faust's URL form."""
        return ";".join(f"kafka://{b}" for b in self.kafka.split(","))


def resolve_one(service: str, value: str | None = None, home: Path | None = None) -> str:
    """One endpoint (`kafka`, `redis` or `clickhouse`): the argument, its env var, or the stack."""
    value = value or os.environ.get(f"EDDY_{service.upper()}")
    if not value:
        home = (home or default_home()).resolve()
        state = StackState.load(home)
        value = getattr(state, service) if state is not None else ""
        if not value and service == "clickhouse" and (home / "chdb").is_dir():
            # The stack is down but its chDB folder is free: open it in-process.
            value = f"chdb://{home / 'chdb'}"
    if not value:
        raise EndpointError(
            f"no endpoint for {service}: run `eddy up` to start the embedded stack, "
            f"or pass --{service} / set EDDY_{service.upper()}"
        )
    return value


def resolve(kafka: str | None = None, redis: str | None = None, clickhouse: str | None = None, home: Path | None = None) -> Endpoints:
    """Pick each endpoint from the argument, its env var, or the embedded stack's state file."""
    return Endpoints(
        kafka=resolve_one("kafka", kafka, home),
        redis=resolve_one("redis", redis, home),
        clickhouse=resolve_one("clickhouse", clickhouse, home),
    )
