"""`streams.stack.ports.free_port`: ports outside the kernel's ephemeral range, so a server bound a
while after its port was chosen (an outage drill's restart) does not find it taken by some
outgoing connection's local end (CI once failed "Address already in use" that way)."""

from __future__ import annotations

import socket

from streams.stack import ports


def test_free_ports_are_bindable_and_outside_the_ephemeral_range():
    low, high = ports._ephemeral_range()
    chosen = [ports.free_port() for _ in range(100)]
    assert not [p for p in chosen if low <= p <= high]
    for port in chosen[:10]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_chosen(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        monkeypatch.setattr(ports, "QUIET_PORTS", (taken, taken))  # the only candidate is in use
        monkeypatch.setattr(ports, "_ephemeral_range", lambda: (1, 0))
        assert ports.free_port() != taken  # the kernel's pick instead
