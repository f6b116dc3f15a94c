"""`/ready` checks: the broker accepts a TCP connection, Redis answers PING, the sink answers.

Each check is a `() -> None` that raises on failure; `run_checks` turns them into a report.

>>> def ok() -> None: pass
>>> def bad() -> None: raise ConnectionRefusedError("nobody home")
>>> run_checks({"a": ok, "b": bad})
(False, {'a': {'ok': True}, 'b': {'ok': False, 'error': 'ConnectionRefusedError: nobody home'}})
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

from streams.endpoints import redact

Check = Callable[[], None]


def broker_check(servers: str, timeout: float = 1.0) -> Check:
    """Reachable when a TCP connection to any bootstrap server opens."""

    def check() -> None:
        errors = []
        for server in servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                    return
            except OSError as exc:
                errors.append(f"{server}: {exc}")
        raise ConnectionError("; ".join(errors) or "no bootstrap server")

    return check


def redis_check(redis_url: str, timeout: float = 1.0, pipeline: str | None = None) -> Check:
    """Reachable when Redis answers PING (a client of its own, short timeouts): on a Redis
    Cluster, the node that serves `pipeline`'s slot, wherever it moves (`streams.redis_slot`),
    not the node of the URL."""
    from streams.redis_slot import slot_client

    clients: list = []  # made at the first check: the URL's node may be down when the server starts

    def check() -> None:
        if not clients:
            clients.append(slot_client(redis_url, pipeline, socket_timeout=timeout, socket_connect_timeout=timeout))
        if not clients[0].ping():
            raise ConnectionError("Redis did not answer PING")

    return check


def sink_check(backend: Any) -> Check:
    """Reachable when the analytics backend answers `SELECT 1` (`Backend.ping`)."""

    def check() -> None:
        if not backend.ping():
            raise ConnectionError("ClickHouse did not answer SELECT 1")

    return check


def run_checks(checks: Mapping[str, Check]) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every check; ready when all pass. Errors are reported with secrets redacted."""
    report: dict[str, dict[str, Any]] = {}
    for name, check in checks.items():
        try:
            check()
            report[name] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - a readiness probe reports any failure
            report[name] = {"ok": False, "error": redact(f"{type(exc).__name__}: {exc}")[:300]}
    return all(r["ok"] for r in report.values()), report
