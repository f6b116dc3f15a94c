"""Notice when Redis lost Eddy's state (a restart without persistence, a flush, a failover).

At start a worker writes a random epoch marker `eddy:{<p>}:epoch` (or adopts the one there). It
reads it back with each batch of events (in the feature state's load round trip,
`RedisStateStore.watch`: the marker as it was when the batch's states were read), before each
learner checkpoint and every `worker.model_refresh` seconds. A missing or different marker
means the window state, seen-markers, snapshots and model registry it relied on are gone. The
worker then raises a `state_lost` alert, flags as `degraded` every score whose window reaches
back before the first event scored on the empty state (event time < that event's time + the
longest window), and the learner republishes its in-memory models so the registry is whole
again (versions continue).

Rebuilding windows from the ClickHouse event archive is the alternative; flagging was chosen
because it is immediate, cheap and honest: downstream services see `degraded = true` on exactly
the scores whose windows may be short, and analysts can filter them out.
"""

from __future__ import annotations

import uuid
from typing import Any

from streams.keyspace import key


class StateGuard:
    """Epoch marker check; `check(now_ms)` returns an alert dict when the state was lost."""

    def __init__(self, client: Any, pipeline: str, refill_ms: int) -> None:
        self.client = client
        self.pipeline = pipeline
        self.key = key(pipeline, "epoch")
        self.refill_ms = refill_ms
        self.epoch: bytes | None = None

    def _adopt(self) -> bytes:
        self.client.set(self.key, uuid.uuid4().hex, nx=True)
        return self.client.get(self.key)

    def start(self) -> None:
        """Write or adopt the epoch marker (call once at worker start)."""
        self.epoch = self._adopt()

    def marked(self) -> bool:
        """Whether Redis holds an epoch marker (False on a first run, or after a loss while no
        worker ran: `streams.lost_state` tells them apart)."""
        return self.client.get(self.key) is not None

    def lost_at_start(self, now_ms: int, versions: dict[str, int]) -> dict[str, Any]:
        """The `state_lost` alert of a loss found at start (`versions`: the highest the models had)."""
        return self._alert(now_ms, f"while no worker ran (no epoch marker, but {self.pipeline}.model-events names "
                                   f"versions {versions})", "model versions continue from those, but the models "
                                   "restart from the config (what they had learned was only in Redis)")

    def _alert(self, now_ms: int, how: str, models: str) -> dict[str, Any]:
        return {
            "model": "*", "kind": "state_lost", "ts": now_ms, "value": float(self.refill_ms), "action": "degrade",
            "detail": (f"Redis lost pipeline {self.pipeline!r}'s state {how}: windows restart empty; scores are "
                       f"flagged degraded until the windows ({self.refill_ms // 1000}s of event time) refill; {models}"),
        }

    def check(self, now_ms: int) -> dict[str, Any] | None:
        """None while the marker is intact; else re-mark and return a `state_lost` alert."""
        return self.observe(self.client.get(self.key), now_ms)

    def observe(self, current: bytes | None, now_ms: int) -> dict[str, Any] | None:
        """`check` on the marker's value read by someone else (`current`, None: absent)."""
        if self.epoch is None:
            self.start()
            return None
        if current == self.epoch:
            return None
        self.epoch = current if current is not None else self._adopt()
        return self._alert(now_ms, "(epoch marker gone)", "models were republished from the learner's memory")
