"""The sink writer: batches rows per table, deduplicates by the table key, survives outages.

The Kafka side (a Faust agent reading ``<p>.scores``, ``<p>.labels``, ``<p>.model-events``,
``<p>.dlq``) lives in ``streams``; it calls this class:

    sink = Sink(backend, "eddy")
    sink.add("predictions", rows, now_ms=now, mark=(topic, partition, offset))
    sink.maybe_flush(now)                 # every loop turn; writes full or old batches
    if sink.backpressure: pause the consumer (resume when it turns False)
    for mark in sink.committable(): commit it   # every row added before it is in ClickHouse

Exactly once in effect: before each insert the sink asks ClickHouse which keys of the batch
already exist (one query per batch) and drops those rows, and duplicates inside a batch; the
ReplacingMergeTree tables merge any duplicate that slips through (two sinks racing), and the
views read FINAL. When the backend is down the rows stay buffered (up to ``max_buffered_rows``,
then ``add`` raises SinkFull), retries back off exponentially, and the sink catches up when the
backend returns. Nothing is dropped: a write error that is not an outage is raised, rows kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from analytics.backends.base import Backend
from analytics.exceptions import BackendUnavailable, SinkFull
from analytics.rows import encode_row, key_of
from analytics.sqltext import identifier, literal
from analytics.tables import TABLES, table_spec

_MAX_DEDUP_SQL = 200_000  # stay under ClickHouse's max_query_size (256 KiB) per dedup query


@dataclass
class _Item:
    seq: int
    key: tuple[Any, ...]
    row: dict[str, Any]


@dataclass
class SinkStats:
    """Counters for health pages and tests."""

    added: int = 0
    written: int = 0
    duplicates: int = 0
    batches: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str = ""


class Sink:
    """Batched, deduplicating, outage-tolerant writer into Eddy's tables in ``db``.

    ``max_batch_rows``/``max_batch_age_ms`` bound a batch by size and by age (age measured with
    the ``now_ms`` the caller passes: time is injected). ``max_buffered_rows`` bounds memory.
    One thread may ``add`` while one other thread flushes; several adding threads need a lock.
    """

    def __init__(self, backend: Backend, db: str = "eddy", *, max_batch_rows: int = 1000,
                 max_batch_age_ms: int = 1000, max_buffered_rows: int = 100_000,
                 retry_initial_ms: int = 100, retry_max_ms: int = 30_000,
                 dedup: bool = True, prepare: Callable[[], None] | None = None) -> None:
        if max_batch_rows < 1 or max_buffered_rows < max_batch_rows:
            raise ValueError("need 1 <= max_batch_rows <= max_buffered_rows")
        self.backend = backend
        self.db = identifier(db)
        self.max_batch_rows = max_batch_rows
        self.max_batch_age_ms = max_batch_age_ms
        self.max_buffered_rows = max_buffered_rows
        self.retry_initial_ms = retry_initial_ms
        self.retry_max_ms = retry_max_ms
        self.dedup = dedup
        self.stats = SinkStats()
        # one deque per table, created up front: the dict never changes size, so one thread may
        # add() while another flushes (deque append/popleft are thread-safe)
        self._buffers: dict[str, deque[_Item]] = {t: deque() for t in TABLES}
        self._since: dict[str, int | None] = {t: None for t in TABLES}
        self._marks: deque[tuple[int, Hashable]] = deque()
        self._seq = 0
        self._retry_at: int | None = None
        #: run once before the first write, retried like one while the backend is down (creating
        #: the tables: a sink can start while ClickHouse is down)
        self._prepare = prepare

    # -- state ---------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        """Rows accepted but not yet written (or found duplicate)."""
        return sum(len(b) for b in self._buffers.values())

    @property
    def backpressure(self) -> bool:
        """True while the buffer is full: the caller must pause consuming."""
        return self.buffered >= self.max_buffered_rows

    @property
    def healthy(self) -> bool:
        """False after a failed write until the next successful one."""
        return self.stats.consecutive_failures == 0

    @property
    def retry_at_ms(self) -> int | None:
        """When the next attempt is allowed after a failure (None: now)."""
        return self._retry_at

    # -- input ---------------------------------------------------------------------------
    def add(self, table: str, rows: Iterable[Mapping[str, Any]], *, now_ms: int | None = None,
            mark: Hashable | None = None) -> None:
        """Validate and buffer ``rows`` for ``table`` (raw rows: times in ms, bytes as bytes).

        Raises RowError (nothing buffered) if a row does not fit the table, and SinkFull if the
        buffer already holds ``max_buffered_rows``. ``mark`` (e.g. a Kafka offset) is returned
        by ``committable()`` once every row added so far is written.
        """
        table_spec(table)
        if self.backpressure:
            raise SinkFull(
                f"sink buffer holds {self.buffered} rows (max_buffered_rows="
                f"{self.max_buffered_rows}); pause consuming while sink.backpressure is True"
            )
        items = []
        for row in rows:
            encoded = encode_row(table, row)
            items.append(_Item(self._seq + len(items), key_of(table, row), encoded))
        buf = self._buffers[table]
        if items:
            if not buf:
                self._since[table] = now_ms
            buf.extend(items)
            self._seq += len(items)
            self.stats.added += len(items)
        if mark is not None:
            self._marks.append((self._seq - 1, mark))

    write = add

    def committable(self) -> list[Hashable]:
        """Marks whose rows (and every row added before them) are durable, oldest first."""
        low = self._seq  # read before the heads: rows added meanwhile have larger sequences
        for buf in list(self._buffers.values()):
            try:
                low = min(low, buf[0].seq)
            except IndexError:  # emptied by a flush in another thread
                pass
        out = []
        while self._marks and self._marks[0][0] < low:
            out.append(self._marks.popleft()[1])
        return out

    # -- output --------------------------------------------------------------------------
    def maybe_flush(self, now_ms: int) -> int:
        """Write every full batch and every batch older than ``max_batch_age_ms``.

        Never raises on an outage: the failure is counted, retried after a backoff, and visible
        in ``stats``/``healthy``. Returns the number of rows written.
        """
        if self._retry_at is not None and now_ms < self._retry_at:
            return 0
        written = 0
        try:
            for table, buf in list(self._buffers.items()):
                if buf and self._since.get(table) is None:
                    self._since[table] = now_ms
                while buf and (len(buf) >= self.max_batch_rows
                               or now_ms - self._since[table] >= self.max_batch_age_ms):
                    written += self._flush_batch(table, buf)
                    self._since[table] = now_ms if buf else None
        except BackendUnavailable as exc:
            self._failed(exc, now_ms)
        return written

    def flush(self, now_ms: int | None = None) -> int:
        """Write everything buffered now; raises BackendUnavailable (rows kept) if down."""
        written = 0
        try:
            for table, buf in list(self._buffers.items()):
                while buf:
                    written += self._flush_batch(table, buf)
                self._since[table] = None
        except BackendUnavailable as exc:
            self._failed(exc, now_ms)
            raise
        return written

    def _failed(self, exc: BaseException, now_ms: int | None) -> None:
        self.stats.failures += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = str(exc)
        if now_ms is not None:
            delay = self.retry_initial_ms * 2 ** min(self.stats.consecutive_failures - 1, 30)
            self._retry_at = now_ms + min(self.retry_max_ms, delay)

    def prepare(self) -> None:
        """Run the `prepare` step now if it has not succeeded yet (BackendUnavailable if down)."""
        if self._prepare is not None:
            self._prepare()
            self._prepare = None

    def _flush_batch(self, table: str, buf: deque[_Item]) -> int:
        self.prepare()
        batch = [buf[i] for i in range(min(self.max_batch_rows, len(buf)))]
        unique: dict[tuple[Any, ...], _Item] = {}
        for item in batch:
            unique.setdefault(item.key, item)
        existing = self._existing(table, list(unique)) if self.dedup else set()
        rows = [it.row for k, it in unique.items() if k not in existing]
        self.backend.insert(f"{self.db}.{table}", rows)
        for _ in batch:
            buf.popleft()
        self.stats.written += len(rows)
        self.stats.duplicates += len(batch) - len(rows)
        self.stats.batches += 1
        self.stats.consecutive_failures = 0
        self._retry_at = None
        return len(rows)

    def _existing(self, table: str, keys: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        spec = table_spec(table)
        exprs = [f"toUnixTimestamp64Milli(`{c}`)" if spec.columns[c] == "ts" else f"`{c}`"
                 for c in spec.key]
        head = f"SELECT {', '.join(f'{e} AS k{i}' for i, e in enumerate(exprs))} " \
               f"FROM {self.db}.{table} WHERE ({', '.join(exprs)}) IN ("
        found: set[tuple[Any, ...]] = set()
        chunk: list[str] = []
        size = 0
        for key in keys + [None]:  # type: ignore[list-item]
            lit = literal(tuple(key)) if key is not None else ""
            if chunk and (key is None or size + len(lit) > _MAX_DEDUP_SQL):
                sql = head + ", ".join(chunk) + ")"
                for r in self.backend.query(sql):
                    found.add(tuple(r[f"k{i}"] for i in range(len(exprs))))
                chunk, size = [], 0
            if key is not None:
                chunk.append(lit)
                size += len(lit) + 2
        return found
