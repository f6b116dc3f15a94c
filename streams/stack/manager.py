"""`eddy up / down / status`: the embedded stack as background processes with a state file.

The state file (`<home>/stack.json`, home = `$EDDY_HOME` or `./.eddy`) records each service's
endpoint and pid; every other command reads its endpoints from there unless given explicitly.
`up` is idempotent (a running stack is reused), `down` stops what the state file names.

Who owns the chDB folder: the `chdb` service of the stack (`python -m analytics.server`), a small
process that opens `<home>/chdb` and answers ClickHouse's HTTP interface. Workers, the sink and
`eddy sql` all talk to it over HTTP, so any number of them can run beside each other.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streams.exceptions import StackError
from streams.stack.binaries import redis_binary, tansu_binary
from streams.stack.ports import free_port, port_in_use, wait_for_port
from streams.stack.process import alive, spawn, terminate

HOST = "127.0.0.1"
SERVICES = ("kafka", "redis", "clickhouse")


@dataclass
class StackState:
    """What `eddy up` started: endpoints, pids and where their logs are."""

    home: str
    kafka: str = ""
    redis: str = ""
    clickhouse: str = ""
    chdb_path: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0

    @property
    def path(self) -> Path:
        return Path(self.home) / "stack.json"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.path)

    @classmethod
    def load(cls, home: Path) -> StackState | None:
        p = home / "stack.json"
        if not p.exists():
            return None
        try:
            return cls(**json.loads(p.read_text()))
        except (ValueError, TypeError) as exc:
            raise StackError(f"{p} is corrupt ({exc}); remove it and run `eddy up` again") from exc

    def health(self) -> dict[str, bool]:
        return {name: alive(self.pids.get(name)) for name in SERVICES}


def _port(requested: int | None, what: str, flag: str) -> int:
    if requested is None or requested == 0:
        return free_port(HOST)
    if port_in_use(requested, HOST):
        raise StackError(f"port {requested} for {what} is taken by another process: stop it, or pick another with {flag} (0 = any free port)")
    return requested


def _start(name: str, argv: list[str], port: int, home: Path, timeout: float) -> int:
    log = home / "logs" / f"{name}.log"
    pid = spawn(argv, log)
    if not wait_for_port(port, timeout, HOST):
        terminate(pid, grace=1.0)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise StackError(f"{name} did not listen on {HOST}:{port} within {timeout:.0f}s; its log {log} ends with:\n{tail}")
    return pid


def _argv(state: StackState, name: str, port: int) -> list[str]:
    if name == "kafka":
        url = f"tcp://{HOST}:{port}"
        return [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]
    if name == "redis":
        return [str(redis_binary()), "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                "--lazyfree-lazy-expire", "yes", "--dir", state.home]
    return [sys.executable, "-m", "analytics.server", "--path", state.chdb_path, "--host", HOST, "--port", str(port)]


def _port_of(endpoint: str) -> int:
    return int(endpoint.rstrip("/").rsplit(":", 1)[1].split("/")[0])


def stop_service(home: Path, name: str) -> None:
    """Stop one service of the stack (outage drills); `start_service` brings it back on its port."""
    state = StackState.load(home.resolve())
    if state is None:
        raise StackError(f"no stack recorded in {home}: run `eddy up` first")
    terminate(state.pids.get(name), grace=10.0)


def start_service(home: Path, name: str) -> StackState:
    """(Re)start one service on the port recorded for it (a restarted Redis comes back empty)."""
    state = StackState.load(home.resolve())
    if state is None:
        raise StackError(f"no stack recorded in {home}: run `eddy up` first")
    if name not in SERVICES:
        raise StackError(f"unknown service {name!r}: use one of {', '.join(SERVICES)}")
    if alive(state.pids.get(name)):
        return state
    port = _port_of(getattr(state, name))
    timeout = 60 if name == "clickhouse" else 15
    state.pids[name] = _start(name, _argv(state, name, port), port, Path(state.home), timeout)
    state.save()
    return state


def up(home: Path, kafka_port: int | None = None, redis_port: int | None = None, clickhouse_port: int | None = None) -> StackState:
    """Start Tansu, Redis and the chDB server unless a healthy stack is already recorded in `home`."""
    home = home.resolve()
    existing = StackState.load(home)
    if existing and all(existing.health().values()):
        return existing
    if existing:
        down(home)
    home.mkdir(parents=True, exist_ok=True)
    state = StackState(home=str(home), chdb_path=str(home / "chdb"), started_at=time.time())
    started: list[int] = []
    try:
        kp = _port(kafka_port, "the Kafka broker", "--kafka-port")
        pid = _start("kafka", _argv(state, "kafka", kp), kp, home, 15)
        started.append(pid)
        state.pids["kafka"], state.kafka = pid, f"{HOST}:{kp}"

        rp = _port(redis_port, "Redis", "--redis-port")
        pid = _start("redis", _argv(state, "redis", rp), rp, home, 15)
        started.append(pid)
        state.pids["redis"], state.redis = pid, f"redis://{HOST}:{rp}/0"

        cp = _port(clickhouse_port, "the chDB server", "--clickhouse-port")
        pid = _start("clickhouse", _argv(state, "clickhouse", cp), cp, home, 60)
        started.append(pid)
        state.pids["clickhouse"], state.clickhouse = pid, f"http://{HOST}:{cp}"
    except BaseException:
        for pid in started:
            terminate(pid, grace=2.0)
        raise
    state.save()
    return state


def down(home: Path) -> StackState | None:
    """Stop every process the state file names and remove the state file. Idempotent."""
    home = home.resolve()
    state = StackState.load(home)
    if state is None:
        return None
    for name in reversed(SERVICES):
        terminate(state.pids.get(name), grace=10.0)
    state.path.unlink(missing_ok=True)
    return state


def status(home: Path) -> StackState | None:
    """The recorded stack (or None); `state.health()` tells which processes are alive."""
    return StackState.load(home.resolve())
