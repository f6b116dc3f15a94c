"""A secured embedded stack: Kafka over TLS with SASL, Redis with a password over TLS, the chDB
server with a user and password. The servers are the real ones (Tansu, redis-server, Eddy's chDB
server); TLS and SASL are terminated by `gate.SecurityGate` in front of them (see its docstring
for why). `env()` is what a user of a secured deployment sets; nothing else is needed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.endpoints import Endpoints
from streams.stack.binaries import redis_binary, tansu_binary
from streams.stack.ports import free_port, wait_for_port
from streams.stack.process import terminate
from tests.reliability.certs import make_tls_files
from tests.reliability.gate import SecurityGate

HOST = "127.0.0.1"


class SecureStack:
    """Start with `with SecureStack(home) as s:`; `s.env()` for child processes."""

    def __init__(self, home: Path, kafka_password: str, redis_password: str, clickhouse_password: str,
                 mechanism: str = "SCRAM-SHA-512") -> None:
        self.home = Path(home).resolve()
        self.passwords = {"kafka": kafka_password, "redis": redis_password, "clickhouse": clickhouse_password}
        self.mechanism = mechanism
        self.procs: list[subprocess.Popen] = []
        self.gates: list[SecurityGate] = []

    def _spawn(self, name: str, argv: list[str], port: int, env: dict[str, str] | None = None) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - open while the process runs
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                           start_new_session=True))
        if not wait_for_port(port, 60, HOST):
            raise RuntimeError(f"{name} did not listen on {port}: see {self.home / f'{name}.log'}")

    def __enter__(self) -> SecureStack:
        import os

        self.home.mkdir(parents=True, exist_ok=True)
        self.tls = make_tls_files(self.home / "tls")
        try:
            broker, self.kafka_port = free_port(HOST), free_port(HOST)
            # the broker advertises the gate: every connection after the bootstrap goes through it
            self._spawn("tansu", [str(tansu_binary()), "broker", "--listener-url", f"tcp://{HOST}:{broker}",
                                  "--advertised-listener-url", f"tcp://{HOST}:{self.kafka_port}"], broker)
            self.gates.append(SecurityGate((HOST, broker), self.tls.server_context(),
                                           {"eddy": self.passwords["kafka"]}, port=self.kafka_port).start())
            redis_port = free_port(HOST)
            self._spawn("redis", [str(redis_binary()), "--port", str(redis_port), "--bind", HOST, "--save", "",
                                  "--appendonly", "no", "--dir", str(self.home),
                                  "--requirepass", self.passwords["redis"]], redis_port)
            self.redis_gate = SecurityGate((HOST, redis_port), self.tls.server_context()).start()
            self.gates.append(self.redis_gate)
            self.clickhouse_port = free_port(HOST)
            env = {**os.environ, "EDDY_CHDB_USER": "analyst", "EDDY_CHDB_PASSWORD": self.passwords["clickhouse"]}
            self._spawn("chdb", [sys.executable, "-m", "analytics.server", "--path", str(self.home / "chdb"),
                                 "--port", str(self.clickhouse_port)], self.clickhouse_port, env)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for gate in self.gates:
            gate.close()
        for proc in reversed(self.procs):
            terminate(proc.pid, grace=10.0)

    @property
    def kafka_gate(self) -> SecurityGate:
        return self.gates[0]

    @property
    def endpoints(self) -> Endpoints:
        p = self.passwords
        return Endpoints(f"{HOST}:{self.kafka_port}",
                         f"rediss://:{p['redis']}@{HOST}:{self.redis_gate.port}/0?ssl_ca_certs={self.tls.ca}",
                         f"http://analyst:{p['clickhouse']}@{HOST}:{self.clickhouse_port}")

    def env(self, **overrides: str) -> dict[str, str]:
        """EDDY_* variables of a secured deployment (`overrides` replace some, e.g. a wrong password)."""
        e = self.endpoints
        return {"EDDY_HOME": str(self.home), "EDDY_KAFKA": e.kafka, "EDDY_REDIS": e.redis,
                "EDDY_CLICKHOUSE": e.clickhouse, "EDDY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "EDDY_KAFKA_SASL_MECHANISM": self.mechanism, "EDDY_KAFKA_USERNAME": "eddy",
                "EDDY_KAFKA_PASSWORD": self.passwords["kafka"], "EDDY_KAFKA_CA_FILE": str(self.tls.ca),
                **overrides}
