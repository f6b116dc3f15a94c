"""In-process state store (replay, tests): same contract as Redis, guarded by a lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from features.exceptions import StateStoreError
from features.state import Attached, Blobs, CommitResult, EntityKey, LoadResult, StateStore


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

    def load(
        self, keys: Sequence[EntityKey], event_ids: Sequence[str], *, dedup_horizon_ms: int | None = None
    ) -> LoadResult:
        """Blobs/tokens of `keys` and seen flags of `event_ids`."""
        absent = (0, None)
        with self._lock:
            items = list(map(self._states.get, keys, [absent] * len(keys)))
            seen = [eid in self._seen for eid in event_ids]
        tokens = np.fromiter((t for t, _ in items), dtype=np.uint64, count=len(items))
        return LoadResult(blobs=Blobs.from_list([b for _, b in items]), tokens=tokens, seen=seen)

    def commit(
        self,
        keys: Sequence[EntityKey],
        tokens: np.ndarray,
        blobs: Blobs,
        applied_ids: Sequence[str],
        *,
        state_ttl_ms: int,
        dedup_horizon_ms: int,
        attached: Attached | None = None,
    ) -> CommitResult:
        """Compare-and-set all writes and mark `applied_ids`, all or nothing."""
        if attached is not None:
            raise StateStoreError("MemoryStateStore does not write attached values (commits_attached is False)")
        want = np.asarray(tokens, dtype=np.uint64).tolist()
        with self._lock:
            states = self._states
            conflicts = [i for i, (k, t) in enumerate(zip(keys, want, strict=True)) if states.get(k, (0,))[0] != t]
            seen_conflicts = [i for i, eid in enumerate(applied_ids) if eid in self._seen]
            if conflicts or seen_conflicts:
                return CommitResult(conflicts=conflicts, seen_conflicts=seen_conflicts)
            for k, t, b in zip(keys, want, blobs.to_list(), strict=True):
                states[k] = (t + 1, b or b"")
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
