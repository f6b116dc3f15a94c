"""Free-port discovery and readiness checks on the loopback interface."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

#: where `free_port` looks first: below Linux's default ephemeral range (32768-60999)
QUIET_PORTS = (20000, 32767)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody uses right now, outside the kernel's ephemeral range when it can.

    A port is usually bound a while after it is chosen (a service started later, or restarted
    after an outage drill). An ephemeral port can meanwhile become the local end of any outgoing
    connection on the host (a client retrying a server that is down can even connect to itself),
    and the server's bind then fails with "Address already in use". Ports below the ephemeral
    range are only ever taken by an explicit bind.

    >>> 1024 < free_port() < 65536
    True
    """
    low, high = QUIET_PORTS
    ephemeral = _ephemeral_range()
    candidates = [p for p in range(low, high + 1) if not ephemeral[0] <= p <= ephemeral[1]]
    for port in random.sample(candidates, min(50, len(candidates))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # let the kernel pick one
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    """Poll until host:port accepts connections or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port, host):
            return True
        time.sleep(0.05)
    return False
