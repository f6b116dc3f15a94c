"""`SnapshotStore`: served snapshots in Redis with a TTL, written and fetched in one round trip.

Key: ``eddy:<ns>:snap:<event_id>`` -> `encode_snapshot` JSON bytes, expiring after `ttl_ms`.
`fetch` has the shape `Learner.retry` expects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from learners.snapshot import decode_snapshot, encode_snapshot


class SnapshotStore:
    """Served snapshots of one namespace (redis-py sync client)."""

    def __init__(self, redis_client: Any, namespace: str, ttl_ms: int):
        if ttl_ms <= 0:
            raise ValueError(f"ttl_ms={ttl_ms}: give a positive TTL (how long labels may lag)")
        self.redis = redis_client
        self.namespace = namespace
        self.ttl_ms = ttl_ms

    def key(self, event_id: str) -> str:
        """The Redis key of `event_id`'s snapshot."""
        return f"eddy:{self.namespace}:snap:{event_id}"

    def put_many(self, snapshots: Iterable[Mapping[str, Any]], *, keep_first: bool = False) -> None:
        """Store snapshots (each has ``event_id``) in one round trip.

        `keep_first`: do not overwrite an existing snapshot (a redelivered event keeps the
        features served the first time).
        """
        pipe = self.redis.pipeline(transaction=False)
        for snap in snapshots:
            pipe.set(self.key(snap["event_id"]), encode_snapshot(snap), px=self.ttl_ms, nx=keep_first)
        pipe.execute()

    def fetch(self, event_ids: list[str]) -> dict[str, dict | None]:
        """``{event_id: snapshot or None}`` for `event_ids`, in one MGET."""
        if not event_ids:
            return {}
        raw = self.redis.mget([self.key(e) for e in event_ids])
        return {e: (decode_snapshot(r) if r is not None else None) for e, r in zip(event_ids, raw)}

    def get(self, event_id: str) -> dict | None:
        """One snapshot, or None if unknown or expired."""
        return self.fetch([event_id])[event_id]
