"""The state-store contract and the compact byte layout of per-key state.

State lives per (entity field, key): one blob holds every window feature of that entity.
A blob is a run of little-endian 64-bit words::

    fingerprint                      # identifies the entity's feature layout
    then for each window feature of the entity, in config order:
        maxb, count                  # newest bucket applied (INT64_MIN if none), entries
        count x (bucket, words...)   # only non-empty buckets, oldest first

with the words per bucket (floats stored as IEEE-754 bits):

    count: n        sum: sum        mean: n, sum       min: min      max: max
    std: n, mean, M2 (Chan/Welford)  last: ts, value    since_prev: max ts
    distinct: one (bucket, hash) pair per distinct value per bucket

Stores treat blobs as opaque bytes and add their own version token for compare-and-set.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.exceptions import StateStoreError
from features.kernels import AGG_CODE, BUCKET_WORDS, DISTINCT, EMPTY
from features.spec import WindowFeature

EntityKey = tuple[str, str]
"""(entity field, key value as str)."""


@dataclass(frozen=True)
class EntityLayout:
    """The arrays the kernel needs for the window features of one entity."""

    entity: str
    features: tuple[WindowFeature, ...]
    agg: np.ndarray
    bucket_ms: np.ndarray
    n_buckets: np.ndarray
    late_buckets: np.ndarray
    fingerprint: int

    @classmethod
    def build(cls, entity: str, features: Sequence[WindowFeature], allowed_lateness: int) -> EntityLayout:
        """Layout of `features` (all keyed by `entity`) with `allowed_lateness` ms."""
        feats = tuple(features)
        ident = "|".join(f"{f.name}:{f.agg}:{f.field}:{f.bucket}" for f in feats)
        digest = hashlib.blake2b(f"eddy-state-v1|{entity}|{ident}".encode(), digest_size=8).digest()
        return cls(
            entity=entity,
            features=feats,
            agg=np.array([AGG_CODE[f.agg] for f in feats], dtype=np.int64),
            bucket_ms=np.array([f.bucket for f in feats], dtype=np.int64),
            n_buckets=np.array([f.n_buckets for f in feats], dtype=np.int64),
            late_buckets=np.array([f.lateness_buckets(allowed_lateness) for f in feats], dtype=np.int64),
            fingerprint=int.from_bytes(digest, "little", signed=True),
        )

    def max_blob_bytes(self) -> int:
        """Upper bound of a blob's size, distinct features excluded (they grow per value)."""
        words = 1
        for code, n, lb in zip(self.agg, self.n_buckets, self.late_buckets, strict=True):
            words += 2 if code == DISTINCT else 2 + (n + lb) * (1 + BUCKET_WORDS[code])
        return 8 * int(words)


def join_blobs(blobs: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate blobs into (int64 words, word offsets[len+1]); None means no state."""
    parts = [b or b"" for b in blobs]
    lens = np.fromiter((len(b) for b in parts), dtype=np.int64, count=len(parts))
    if np.any(lens % 8):
        raise StateStoreError("a state blob is not a whole number of 64-bit words; state is corrupt")
    off = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lens // 8, out=off[1:])
    words = np.frombuffer(b"".join(parts), dtype="<i8") if parts else np.zeros(0, np.int64)
    return words.astype(np.int64, copy=False), off


def split_blobs(words: np.ndarray, off: np.ndarray, indexes: Sequence[int]) -> list[bytes]:
    """The blobs of keys `indexes` from the kernel's output words."""
    raw = words.astype("<i8", copy=False).tobytes()
    return [raw[off[i] * 8 : off[i + 1] * 8] for i in indexes]


def decode_blob(blob: bytes, layout: EntityLayout) -> dict[str, dict[str, Any]]:
    """Human-readable view of one blob: per feature, maxb and its buckets (for docs/debugging)."""
    w = np.frombuffer(blob, dtype="<i8")
    f64 = w.view("<f8")
    if len(w) == 0 or int(w[0]) != layout.fingerprint:
        raise StateStoreError(f"blob does not belong to entity {layout.entity!r}'s feature layout")
    p = 1
    out: dict[str, dict[str, Any]] = {}
    for feat, code in zip(layout.features, layout.agg, strict=True):
        maxb, cnt = int(w[p]), int(w[p + 1])
        p += 2
        width = 2 if code == DISTINCT else 1 + int(BUCKET_WORDS[code])
        entries = []
        for _ in range(cnt):
            raw = [int(w[p])] + [
                int(w[p + j]) if (feat.agg in ("last", "since_prev", "distinct") and j == 1) else float(f64[p + j])
                for j in range(1, width)
            ]
            entries.append(tuple(raw))
            p += width
        out[feat.name] = {"maxb": None if maxb == EMPTY else maxb, "buckets": entries}
    return out


@dataclass
class LoadResult:
    """What a store returns for one batch: blobs + version tokens per key, seen flag per id."""

    blobs: list[bytes | None]
    tokens: list[Any]
    seen: list[bool]


@dataclass
class CommitResult:
    """Outcome of a commit: empty lists mean everything was written atomically."""

    conflicts: list[int] = field(default_factory=list)
    """Indexes (into the written keys) whose token changed since load: nothing was written."""
    seen_conflicts: list[int] = field(default_factory=list)
    """Indexes (into applied ids) already marked seen by someone else: nothing was written."""

    @property
    def ok(self) -> bool:
        """True when the whole commit was applied."""
        return not self.conflicts and not self.seen_conflicts


class StateStore(ABC):
    """Per-(entity, key) state blobs and seen event ids, read and written once per batch."""

    @abstractmethod
    def load(self, keys: Sequence[EntityKey], event_ids: Sequence[str]) -> LoadResult:
        """Blobs and tokens of `keys` and seen flags of `event_ids`, in one round trip."""

    @abstractmethod
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
        """Atomically set `keys[i]` to `blobs[i]` if its token is still `tokens[i]` (as loaded),
        and mark `applied_ids` seen; or do nothing at all.

        Nothing is written when any token changed or any id is already marked seen; the
        result says which, so the caller can reload and recompute.
        """
