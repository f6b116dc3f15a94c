"""Served-feature snapshots: what an event was scored with, kept until its label arrives.

One snapshot per event id holds the exact feature vector given to the models (float64, in the
config's feature order), the prediction and version of every model, the served-at time and the
Kafka position the event came from (so a redelivery is told apart from a duplicate). Live workers
keep them in Redis with a TTL (`labels.snapshot_ttl`); replay keeps them in memory.

Layout in Redis: `eddy:{namespace}:snap:{event_id}` -> a pickled tuple (see `Snapshot.pack`);
about 150 bytes + 8 bytes per feature + 24 per model (measured in docs/models.md).

Learned marks: `eddy:{namespace}:learned:{event_id}` -> ``1``, with the snapshots' TTL, written
for the labels a learner checkpoint covers (`mark_learned`). A restarted learner remembers only
its checkpoint's most recent learned ids; a label sent again later, for an event served before
that restart, is recognised by its mark (`learned_many`) and not learned twice. Past the TTL
the snapshot is gone too, and such a label is an orphan: never learned twice either.
"""

from __future__ import annotations

import pickle
from typing import NamedTuple, Protocol

import numpy as np

from features import Attached
from features.redis_store import roundtrip


class Served(NamedTuple):
    """One model's output for an event (a named tuple: built per model per event, so cheap)."""

    model: str
    version: int
    role: str
    prediction: float
    predicted_label: str | None = None


class Snapshot(NamedTuple):
    """What an event was served with (a named tuple: one per scored event, so cheap to build)."""

    event_id: str
    key: str
    event_ts: int
    served_ts: int
    latency_ms: float
    features: np.ndarray
    served: tuple[Served, ...]
    topic: str = ""
    partition: int = -1
    offset: int = -1
    segments: tuple[tuple[str, str], ...] = ()
    late: bool = False

    def x(self, names: list[str]) -> dict[str, float]:
        """The River input dict exactly as it was scored."""
        return dict(zip(names, self.features.tolist()))

    def same_source(self, topic: str, partition: int, offset: int) -> bool:
        return (self.topic, self.partition, self.offset) == (topic, partition, offset)

    def pack(self) -> bytes:
        served = tuple((s.model, s.version, s.role, s.prediction, s.predicted_label) for s in self.served)
        payload = (1, self.event_id, self.key, self.event_ts, self.served_ts, self.latency_ms,
                   self.features.astype(np.float64).tobytes(), served, self.topic, self.partition,
                   self.offset, self.segments, self.late)
        return pickle.dumps(payload, protocol=5)

    @classmethod
    def unpack(cls, data: bytes) -> Snapshot:
        (_v, event_id, key, event_ts, served_ts, latency, feats, served, topic, partition, offset,
         segments, late) = pickle.loads(data)
        return cls(event_id, key, event_ts, served_ts, latency, np.frombuffer(feats, dtype=np.float64),
                   tuple(Served(*s) for s in served), topic, partition, offset, tuple(segments), late)


class SnapshotStore(Protocol):
    """Put and get snapshots by event id, a batch per round trip."""

    def put_many(self, snapshots: list[Snapshot]) -> None: ...

    def get_many(self, event_ids: list[str]) -> list[Snapshot | None]: ...


class AttachedSnapshots(SnapshotStore, Protocol):
    """A snapshot store whose writes can ride in a feature-state commit (`RedisSnapshots`)."""

    def attached(self, snapshots: list[Snapshot]) -> Attached: ...


class LearnedMarks(Protocol):
    """Which events' labels a learner checkpoint already covers, kept as long as their snapshots."""

    def mark_learned(self, event_ids: list[str]) -> None: ...

    def learned_many(self, event_ids: list[str]) -> list[bool]: ...


class MemorySnapshots:
    """In-process snapshots for replay and unit tests (no TTL: a replay is bounded)."""

    def __init__(self) -> None:
        self._data: dict[str, Snapshot] = {}
        self._learned: set[str] = set()

    def mark_learned(self, event_ids: list[str]) -> None:
        self._learned.update(event_ids)

    def learned_many(self, event_ids: list[str]) -> list[bool]:
        return [e in self._learned for e in event_ids]

    def put_many(self, snapshots: list[Snapshot]) -> None:
        """Keep each snapshot unless its event has one already (the first served counts)."""
        data = self._data
        for s in snapshots:
            data.setdefault(s.event_id, s)

    def get_many(self, event_ids: list[str]) -> list[Snapshot | None]:
        return [self._data.get(e) for e in event_ids]


class RedisSnapshots:
    """Snapshots in Redis with a TTL; one pipelined round trip per batch."""

    def __init__(self, client, namespace: str, ttl_ms: int) -> None:  # noqa: ANN001 - redis.Redis
        self._r = client
        self._prefix = f"eddy:{namespace}:snap:"
        self._learned_prefix = f"eddy:{namespace}:learned:"
        self._ttl = int(ttl_ms)

    def put_many(self, snapshots: list[Snapshot]) -> None:
        """One SET with PX and NX per snapshot, in one round trip: an event's first served
        snapshot stays until it expires (a duplicate older than the dedup horizon, scored again,
        does not replace what its label must learn with)."""
        self._set_px(self.attached(snapshots).items, nx=True)

    def attached(self, snapshots: list[Snapshot]) -> Attached:
        """The snapshots as values a feature-state commit writes with the state
        (`features.RedisStateStore` on the same server): applied and served, or neither."""
        prefix = self._prefix.encode()
        return Attached([(prefix + s.event_id.encode(), s.pack()) for s in snapshots], self._ttl)

    def mark_learned(self, event_ids: list[str]) -> None:
        """Mark `event_ids` learned for the snapshots' TTL (one round trip)."""
        prefix = self._learned_prefix.encode()
        self._set_px([(prefix + e.encode(), b"1") for e in event_ids])

    def _set_px(self, items: list[tuple[bytes, bytes]], nx: bool = False) -> None:
        """SET key value PX ttl (NX) for each (key, value), framed here and sent in one round trip
        (redis-py's pipeline cost ~25 us of Python per command: more than the pickling)."""
        if not items:
            return
        ttl = str(self._ttl).encode()
        tail = b"$2\r\nPX\r\n$%d\r\n%b\r\n" % (len(ttl), ttl) + (b"$2\r\nNX\r\n" if nx else b"")
        head = b"*6\r\n" if nx else b"*5\r\n"
        frame = [head + b"$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b" % (len(key), key, len(value), value, tail)
                 for key, value in items]
        roundtrip(self._r, [b"".join(frame)], len(items))

    def learned_many(self, event_ids: list[str]) -> list[bool]:
        if not event_ids:
            return []
        return [v is not None for v in self._r.mget([self._learned_prefix + e for e in event_ids])]

    def get_many(self, event_ids: list[str]) -> list[Snapshot | None]:
        if not event_ids:
            return []
        raw = self._r.mget([self._prefix + e for e in event_ids])
        return [Snapshot.unpack(b) if b is not None else None for b in raw]
