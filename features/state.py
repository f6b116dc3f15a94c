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


@dataclass(frozen=True)
class Blobs:
    """A sequence of state blobs held as byte runs of one buffer (no per-blob Python object).

    Blob i is ``buf[start[i]:end[i]]``; an empty run means "no state". Runs may leave gaps
    (a store's version tokens sit between them) and may share one buffer across views.
    """

    buf: np.ndarray
    """uint8 buffer."""
    start: np.ndarray
    """int64 start offset per blob."""
    end: np.ndarray
    """int64 end offset per blob."""

    @classmethod
    def from_list(cls, blobs: Sequence[bytes | None]) -> Blobs:
        """Concatenate `blobs` (None = no state)."""
        parts = [b or b"" for b in blobs]
        lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        end = np.cumsum(lens)
        return cls(np.frombuffer(b"".join(parts), dtype=np.uint8), end - lens, end)

    @classmethod
    def concat(cls, parts: Sequence[Blobs]) -> Blobs:
        """One `Blobs` with the blobs of `parts` in order (copies the buffers)."""
        if len(parts) <= 1:
            return parts[0] if parts else cls.from_list([])
        shift = np.cumsum([0] + [len(p.buf) for p in parts[:-1]])
        return cls(
            np.concatenate([p.buf for p in parts]),
            np.concatenate([p.start + d for p, d in zip(parts, shift, strict=True)]).astype(np.int64),
            np.concatenate([p.end + d for p, d in zip(parts, shift, strict=True)]).astype(np.int64),
        )

    def take(self, idx: np.ndarray) -> Blobs:
        """The blobs at positions `idx` (a view on the same buffer)."""
        return Blobs(self.buf, self.start[idx], self.end[idx])

    def to_list(self) -> list[bytes | None]:
        """One `bytes` per blob (None for an empty run)."""
        raw = self.buf.tobytes()
        return [raw[a:b] if b > a else None for a, b in zip(self.start.tolist(), self.end.tolist(), strict=True)]

    def __len__(self) -> int:
        return len(self.start)


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

    blobs: Blobs
    tokens: np.ndarray
    """uint64 version token per key; 0 = the key holds no state."""
    seen: list[bool]


@dataclass(frozen=True)
class Attached:
    """Values a commit writes with the state, in the same atomic step and only if it lands:
    ``SET key value PX ttl_ms NX`` for each ``(key, value)`` of `items` (the live worker attaches
    the batch's served snapshots, so an event is never applied without what it was served). A
    value already there stays: the first one written counts."""

    items: Sequence[tuple[bytes, bytes]]
    ttl_ms: int


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

    seen_on_load: bool = True
    """True: `FeatureEngine.process` passes the batch's event ids to `load` to learn which are
    already seen. False: it passes none and learns them from `commit`'s `seen_conflicts` (the
    commit checks every applied id anyway), which saves a lookup per event when redeliveries
    are rare; a batch with redelivered events then costs one more load and commit."""

    @abstractmethod
    def load(
        self, keys: Sequence[EntityKey], event_ids: Sequence[str], *, dedup_horizon_ms: int | None = None
    ) -> LoadResult:
        """Blobs and tokens of `keys` and seen flags of `event_ids`, in one round trip
        (`dedup_horizon_ms`: the feature set's, needed by stores that expire ids by it)."""

    commits_attached: bool = False
    """True: `commit` takes `attached` values and writes them in the same atomic step."""

    @abstractmethod
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
        """Atomically set `keys[i]` to blob i if its token is still `tokens[i]` (as loaded),
        and mark `applied_ids` seen (and write `attached`, if `commits_attached`); or do
        nothing at all.

        Nothing is written when any token changed or any id is already marked seen; the
        result says which, so the caller can reload and recompute.
        """
