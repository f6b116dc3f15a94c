"""In-process state store (replay, tests): same contract as Redis, guarded by a lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from typing import Any

from features.state import CommitResult, EntityKey, LoadResult, StateStore


class MemoryStateStore(StateStore):
    """Blobs and seen ids in dicts; tokens are per-key write counters.

    State and seen ids never expire here (`state_ttl` and `dedup_horizon` are wall-clock
    settings honoured by Redis); replay runs are bounded, so this keeps them exact.

    >>> store = MemoryStateStore()
    >>> store.load([("card", "1")], ["e1"]).seen
    [False]
    """

    def __init__(self) -> None:
        self._states: dict[EntityKey, tuple[int, bytes]] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def load(self, keys: Sequence[EntityKey], event_ids: Sequence[str]) -> LoadResult:
        """Blobs/tokens of `keys` and seen flags of `event_ids`."""
        with self._lock:
            blobs: list[bytes | None] = []
            tokens: list[int] = []
            for key in keys:
                token, blob = self._states.get(key, (0, None))
                blobs.append(blob)
                tokens.append(token)
            seen = [eid in self._seen for eid in event_ids]
        return LoadResult(blobs=blobs, tokens=tokens, seen=seen)

    def commit(
        self,
        keys: Sequence[EntityKey],
        tokens: Sequence[Any],
        blobs: Sequence[bytes],
        applied_ids: Sequence[str],
        *,
        state_ttl_ms: int,
        dedup_horizon_ms: int,
    ) -> CommitResult:
        """Compare-and-set all writes and mark `applied_ids`, all or nothing."""
        with self._lock:
            states = self._states
            conflicts = [i for i, (k, t) in enumerate(zip(keys, tokens, strict=True)) if states.get(k, (0,))[0] != t]
            seen_conflicts = [i for i, eid in enumerate(applied_ids) if eid in self._seen]
            if conflicts or seen_conflicts:
                return CommitResult(conflicts=conflicts, seen_conflicts=seen_conflicts)
            for k, t, b in zip(keys, tokens, blobs, strict=True):
                states[k] = (t + 1, b)
            self._seen.update(applied_ids)
        return CommitResult()

    def __len__(self) -> int:
        """Number of (entity, key) states held."""
        return len(self._states)

    def blob(self, entity: str, key: str) -> bytes | None:
        """The raw state blob of one key (for inspection)."""
        with self._lock:
            item = self._states.get((entity, key))
        return None if item is None else item[1]
