"""The state-store contract and the compact byte layout of per-key state.

State lives per (entity field, key): one blob holds every window feature of that entity::

    fingerprint                       8 bytes, identifies the entity's feature layout
    then for each window feature of the entity, in config order:
        count                         varint: number of entries (0 = no state, nothing follows)
        maxb                          zigzag varint: newest bucket applied
        count x entry                 non-empty retained buckets, oldest first

    entry = varint (maxb - bucket) followed by
        count: n (varint)             sum / min / max: value (f64)
        mean: n (varint), sum (f64)   std: n (varint), mean (f64), M2 (f64)
        last: ts - bucket*H (varint), value (f64)
        since_prev: max ts - bucket*H (varint)
        distinct: hash (i64); one entry per distinct value per bucket

Varints are unsigned LEB128; f64/i64 are 8 raw little-endian bytes. Stores treat blobs as
opaque bytes and add their own version token for compare-and-set.
"""

from __future__ import annotations

import hashlib
import struct
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.exceptions import StateStoreError
from features.kernels import AGG_CODE, DISTINCT
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
        size = 8
        for code, n, lb in zip(self.agg, self.n_buckets, self.late_buckets, strict=True):
            size += 20 if code == DISTINCT else 20 + int(n + lb) * _MAX_ENTRY[int(code)]
        return size


_MAX_ENTRY = {0: 20, 1: 18, 2: 28, 3: 18, 4: 18, 5: 36, 6: 28, 7: 20}  # per agg code, bytes


def join_blobs(blobs: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate blobs into (uint8 buffer, byte offsets[len+1]); None means no state."""
    parts = [b or b"" for b in blobs]
    off = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), out=off[1:])
    return np.frombuffer(b"".join(parts), dtype=np.uint8), off


def split_blobs(buf: np.ndarray, off: np.ndarray, indexes: Sequence[int]) -> list[bytes]:
    """The blobs of keys `indexes` from the kernel's output buffer."""
    raw = buf.tobytes()
    return [raw[off[i] : off[i + 1]] for i in indexes]


def _varint(blob: bytes, p: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = blob[p]
        p += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, p
        shift += 7


def decode_blob(blob: bytes, layout: EntityLayout) -> dict[str, dict[str, Any]]:
    """Human-readable view of one blob: per feature, maxb and its buckets (for docs/debugging).

    Buckets are tuples `(bucket, *fields)` with the fields of the layout above.
    """
    if len(blob) < 8 or struct.unpack_from("<q", blob, 0)[0] != layout.fingerprint:
        raise StateStoreError(f"blob does not belong to entity {layout.entity!r}'s feature layout")
    p = 8
    out: dict[str, dict[str, Any]] = {}
    for feat in layout.features:
        cnt, p = _varint(blob, p)
        if cnt == 0:
            out[feat.name] = {"maxb": None, "buckets": []}
            continue
        zz, p = _varint(blob, p)
        maxb = (zz >> 1) ^ -(zz & 1)
        entries = []
        for _ in range(cnt):
            off, p = _varint(blob, p)
            bucket = maxb - off
            fields: list[float | int] = []
            if feat.agg in ("count", "mean", "std"):
                n, p = _varint(blob, p)
                fields.append(float(n))
            elif feat.agg in ("last", "since_prev"):
                d, p = _varint(blob, p)
                fields.append(bucket * feat.bucket + d)
            n_raw = {"sum": 1, "min": 1, "max": 1, "last": 1, "mean": 1, "std": 2, "distinct": 1}.get(feat.agg, 0)
            fmt = "<q" if feat.agg == "distinct" else "<d"
            for _ in range(n_raw):
                fields.append(struct.unpack_from(fmt, blob, p)[0])
                p += 8
            entries.append((bucket, *fields))
        out[feat.name] = {"maxb": maxb, "buckets": entries}
    if p != len(blob):
        raise StateStoreError("blob has trailing bytes; state is corrupt")
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
