"""Redis state store: one read and one atomic Lua compare-and-set per batch.

Keys (namespace = `<pipeline>` live, `<pipeline>:replay:<run_id>` for replays)::

    eddy:{namespace}:st:{entity}:{key}         -> version (u64 LE) + expiry bound (u64 LE ms) + blob
    eddy:{namespace}:seen:{dedup_ms}:{period}  -> SET of the ids applied in that period of server time

The version is a counter bumped on every write; the commit script checks every key's version
and looks every applied id up in the two live seen sets before writing anything, so a batch is
applied entirely or not at all. Seen ids are only checked at commit (`seen_on_load = False`):
a redelivered id makes the commit fail with its index, and the engine recomputes the batch with
that event read-only. A state keeps its TTL (`KEEPTTL`) while its expiry bound is a full
state_ttl ahead, else gets now + state_ttl + state_ttl / 8 (see docs/features.md, "Expiry").

Commands are framed here (RESP) from numpy buffers by a small Numba helper and sent on a
connection of the client's pool, so a batch's ~1,000 keys, ids and values cost no Python work
per argument; replies are parsed by redis-py (hiredis).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

import numpy as np
import redis
from numba import njit

from features.exceptions import StateStoreError
from features.kernels import read_only
from features.state import Attached, Blobs, CommitResult, EntityKey, LoadResult, StateStore

# KEYS: the n state keys.
# ARGV: m, state_ttl_ms, dedup_ms, expected versions (n x 8 bytes, all-zero = key absent),
#       seen-set key prefix, the client's estimate of the server clock (ms), its allowed error,
#       the expiry slack (ms), keep flags (n bytes: 1 = the key's expiry is far enough ahead,
#       write it with KEEPTTL), then the m applied ids, then the n new values; optionally
#       the number a of attached values and their PX ttl, then a keys, then a values.
# 1. compare every state key's version with the one loaded (MGET);
# 2. look the applied ids up in the two live seen sets (this period's and the previous one);
# 3. only if every version matches and no id was seen: add the ids to this period's set and
#    write the states (KEEPTTL, or PXAT now + state_ttl + slack from the server clock) and the
#    attached values (NX: one already there stays). Else write nothing and return the indexes of the stale keys and of the
#    ids already seen. Every key is read before the first write (the seen sets by step 2, the
#    attached keys by an EXISTS), so a Redis Cluster node that does not serve one of them now
#    fails the script before it writes anything.
COMMIT_LUA = """
local n = #KEYS
local m = tonumber(ARGV[1])
local expected = ARGV[4]
local absent = string.rep('\\0', 8)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if math.abs(now - tonumber(ARGV[6])) > tonumber(ARGV[7]) then
  return redis.error_reply('EDDYCLOCK the client estimate of the server clock is off; resync')
end
local bad = {}
for lo = 1, n, 4000 do
  local hi = math.min(lo + 3999, n)
  local cur = redis.call('MGET', unpack(KEYS, lo, hi))
  for i = lo, hi do
    local v = cur[i - lo + 1]
    local token = absent
    if v then token = string.sub(v, 1, 8) end
    if token ~= string.sub(expected, 8 * i - 7, 8 * i) then bad[#bad + 1] = i - 1 end
  end
end
local period = tonumber(ARGV[3])
local p = math.floor(now / period)
local this_set = ARGV[5] .. string.format('%.0f', p)
local seen = {}
for lo = 10, 9 + m, 4000 do
  local hi = math.min(lo + 3999, 9 + m)
  for _, set in ipairs({this_set, ARGV[5] .. string.format('%.0f', p - 1)}) do
    local r = redis.call('SMISMEMBER', set, unpack(ARGV, lo, hi))
    for k = 1, #r do
      if r[k] == 1 then seen[#seen + 1] = lo - 10 + k - 1 end
    end
  end
end
if #bad > 0 or #seen > 0 then
  return {bad, seen}
end
local at = 9 + m + n
local a = tonumber(ARGV[at + 1] or '0')
for lo = at + 3, at + 2 + a, 4000 do
  -- touch the attached keys (not in KEYS) before the first write: on a Redis Cluster node that
  -- does not serve them now (the slot migrates) this fails here, with nothing written yet
  redis.call('EXISTS', unpack(ARGV, lo, math.min(lo + 3999, at + 2 + a)))
end
if m > 0 then
  for lo = 10, 9 + m, 4000 do
    redis.call('SADD', this_set, unpack(ARGV, lo, math.min(lo + 3999, 9 + m)))
  end
  redis.call('PEXPIREAT', this_set, string.format('%.0f', (p + 2) * period))
end
local state_at = string.format('%.0f', now + tonumber(ARGV[2]) + tonumber(ARGV[8]))
local keep = ARGV[9]
for i = 1, n do
  if string.byte(keep, i) == 1 then
    redis.call('SET', KEYS[i], ARGV[9 + m + i], 'KEEPTTL')
  else
    redis.call('SET', KEYS[i], ARGV[9 + m + i], 'PXAT', state_at)
  end
end
for i = 1, a do
  redis.call('SET', ARGV[at + 2 + i], ARGV[at + 2 + a + i], 'PX', ARGV[at + 2], 'NX')
end
return {bad, seen}
"""
# ARGV: seen-set key prefix, period (= dedup_ms), ids. Returns a 0/1 flag per id.
SEEN_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[2])
local p = math.floor(now / period)
local flags = {}
for i = 3, #ARGV do flags[i - 2] = 0 end
for lo = 3, #ARGV, 4000 do
  local hi = math.min(lo + 3999, #ARGV)
  for _, set in ipairs({ARGV[1] .. string.format('%.0f', p), ARGV[1] .. string.format('%.0f', p - 1)}) do
    local r = redis.call('SMISMEMBER', set, unpack(ARGV, lo, hi))
    for k = 1, #r do
      if r[k] == 1 then flags[lo - 3 + k] = 1 end
    end
  end
end
return flags
"""
SEEN_SHA = hashlib.sha1(SEEN_LUA.encode()).hexdigest()
COMMIT_SHA = hashlib.sha1(COMMIT_LUA.encode()).hexdigest()

_HEADER_LEN = 16  # version (u64 LE) + expiry lower bound (u64 LE ms of server time, 0 = unknown)
_CLOCK_MARGIN_MS = 1_000  # allowed error of the client's estimate of the server clock
_CLOCK_RESYNC_S = 60.0
_CRLF = b"\r\n"


def _frame_bulks(a_buf: np.ndarray, a_start: np.ndarray, a_end: np.ndarray, b_buf: np.ndarray, b_start: np.ndarray,
                 b_end: np.ndarray) -> np.ndarray:
    """`_frame_bulks_kernel` on read-only buffers: one Numba specialization, the one `warm_up` loads."""
    return _frame_bulks_kernel(read_only(a_buf), a_start, a_end, read_only(b_buf), b_start, b_end)


@njit(cache=True)
def _frame_bulks_kernel(a_buf, a_start, a_end, b_buf, b_start, b_end):
    """RESP bulk strings `$len\\r\\n<a_i><b_i>\\r\\n` for every i, as one uint8 buffer."""
    n = b_start.shape[0]
    total = 0
    for i in range(n):
        ln = (a_end[i] - a_start[i]) + (b_end[i] - b_start[i])
        digits = 1
        while ln >= 10 ** digits:
            digits += 1
        total += ln + digits + 5
    out = np.empty(total, np.uint8)
    pos = 0
    for i in range(n):
        ln = (a_end[i] - a_start[i]) + (b_end[i] - b_start[i])
        digits = 1
        while ln >= 10 ** digits:
            digits += 1
        out[pos] = 36  # '$'
        x = ln
        for d in range(digits, 0, -1):
            out[pos + d] = 48 + x % 10
            x //= 10
        pos += digits + 1
        out[pos] = 13
        out[pos + 1] = 10
        pos += 2
        for p in range(a_start[i], a_end[i]):
            out[pos] = a_buf[p]
            pos += 1
        for p in range(b_start[i], b_end[i]):
            out[pos] = b_buf[p]
            pos += 1
        out[pos] = 13
        out[pos + 1] = 10
        pos += 2
    return out


def _encode(items: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTF-8 of `items` concatenated, with each item's (start, end) byte offsets."""
    joined = "".join(items)
    if joined.isascii():
        data = joined.encode()
        lens = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    else:
        parts = [s.encode() for s in items]
        data = b"".join(parts)
        lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    end = np.cumsum(lens)
    return np.frombuffer(data, dtype=np.uint8), end - lens, end


def _bulk(arg: bytes | str | int) -> bytes:
    raw = arg if isinstance(arg, bytes) else str(arg).encode()
    return b"$%d\r\n%b\r\n" % (len(raw), raw)


def command(*args: bytes | str | int) -> bytes:
    r"""One RESP command, framed for `roundtrip`.

    >>> command("HINCRBY", b"k", "scored", 3)
    b'*4\r\n$7\r\nHINCRBY\r\n$1\r\nk\r\n$6\r\nscored\r\n$1\r\n3\r\n'
    """
    return b"*%d\r\n" % len(args) + b"".join(map(_bulk, args))


def warm_up_framing() -> None:
    """Compile (or load from Numba's cache) the framing helper."""
    z = np.zeros(0, np.uint8)
    i = np.zeros(1, np.int64)
    _frame_bulks(z, i, i, z, i, i)  # (read-only, as every call passes them)


def roundtrip(client: redis.Redis, chunks: list | bytes, replies: int) -> list:
    """Send pre-framed RESP commands (`chunks`) on one pooled connection of `client` and read
    `replies` replies: a pipeline without redis-py's per-command Python work. A reply that is an
    error raises `redis.ResponseError` (the connection is dropped if replies were left unread).
    Connection errors are retried as the client's `retry` says.

    The chunks go out as one buffer: redis-py writes each item of a list with its own `sendall`,
    a system call each (~10 us; a feature batch has 5-8 chunks)."""
    pool = client.connection_pool
    conn = client.connection or pool.get_connection()
    payload = [chunks if isinstance(chunks, bytes) else b"".join(chunks)]

    def once() -> list:
        conn.send_packed_command(payload)
        out = []
        for k in range(replies):
            try:
                out.append(conn.read_response())
            except redis.ResponseError:
                if k < replies - 1:  # replies left unread: the connection is out of step
                    conn.disconnect()
                raise
        return out

    try:
        return conn.retry.call_with_retry(once, lambda _err: conn.disconnect())
    finally:
        if client.connection is None:
            pool.release(conn)


class RedisStateStore(StateStore):
    """`StateStore` on a sync redis-py client (`redis.Redis`, `decode_responses=False`).

    Args:
        client: a connected `redis.Redis` (standalone server); it is thread-safe, share it
            between engines.
        namespace: key prefix part, e.g. "fraud" or "fraud:replay:run42".
    """

    seen_on_load = False
    commits_attached = True

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._state_prefix = f"eddy:{namespace}:st:"
        self._seen_prefix = f"eddy:{namespace}:seen:"
        self._clock: tuple[int, float] | None = None  # (server ms, local monotonic s) of a TIME read
        self._watch: tuple[bytes, Callable[[bytes | None], None]] | None = None  # see `watch`

    def watch(self, key: str, seen: Callable[[bytes | None], None]) -> None:
        """Also GET `key` in the round trip of every `load` (one more reply, no round trip of its
        own) and hand its value (None: absent) to `seen` before the load returns. For a marker
        whose absence says the server lost the state (`streams.state_guard`), read with the very
        states a batch is computed from.
        """
        self._watch = (command("GET", key), seen)

    def state_key(self, entity: str, key: str) -> str:
        """Redis key of (entity, key)'s state."""
        return f"{self._state_prefix}{entity}:{key}"

    def seen_set_prefix(self, dedup_horizon_ms: int) -> str:
        """Prefix of the seen sets: `<prefix><period number>` holds the ids applied in that period
        (period = `dedup_horizon_ms` of server time)."""
        return f"{self._seen_prefix}{int(dedup_horizon_ms)}:"

    # ------------------------------------------------------------------ framing
    def _state_keys_frame(self, keys: Sequence[EntityKey]) -> np.ndarray:
        ents = list(dict.fromkeys(e for e, _ in keys))
        pre, pre_start, pre_end = _encode([f"{self._state_prefix}{e}:" for e in ents])
        if len(ents) == 1:
            which = np.zeros(len(keys), dtype=np.int64)
        else:
            pos = {e: i for i, e in enumerate(ents)}
            which = np.fromiter((pos[e] for e, _ in keys), dtype=np.int64, count=len(keys))
        data, start, end = _encode([k for _, k in keys])
        return _frame_bulks(pre, pre_start[which], pre_end[which], data, start, end)

    @staticmethod
    def _ids_frame(event_ids: Sequence[str]) -> np.ndarray:
        data, start, end = _encode(event_ids)
        return _frame_bulks(data, start, start, data, start, end)

    def _roundtrip(self, chunks: list, replies: int) -> list:
        return roundtrip(self.client, chunks, replies)

    # ------------------------------------------------------------------ contract
    def load(
        self, keys: Sequence[EntityKey], event_ids: Sequence[str], *, dedup_horizon_ms: int | None = None
    ) -> LoadResult:
        """MGET the states (and look `event_ids` up in the seen sets, if any) in one round trip."""
        if event_ids and dedup_horizon_ms is None:
            raise StateStoreError("RedisStateStore.load needs dedup_horizon_ms to look event ids up")
        chunks = self._load_chunks(keys, event_ids, dedup_horizon_ms)
        watch = self._watch is not None and bool(chunks)
        if watch:
            chunks.append(self._watch[0])
        n_replies = (1 if keys else 0) + (1 if event_ids else 0) + watch
        try:
            try:
                replies = self._roundtrip(chunks, n_replies) if chunks else []
            except redis.exceptions.NoScriptError:
                self.client.script_load(SEEN_LUA)
                replies = self._roundtrip(chunks, n_replies)
        except redis.RedisError as exc:
            raise _load_error(exc) from exc
        if watch:
            self._watch[1](replies.pop())
        return self._load_result(keys, replies[0] if keys else [], replies[-1] if event_ids else [])

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
        """Run the compare-and-set script (one round trip), `attached` values written with it."""
        if not keys and not applied_ids and not (attached and attached.items):
            return CommitResult()
        for attempt in range(3):
            chunks, _ = self._commit_chunks(keys, tokens, blobs, applied_ids, state_ttl_ms, dedup_horizon_ms,
                                            attached)
            try:
                (reply,) = self._roundtrip(chunks, 1)
                return _commit_result(reply)
            except redis.exceptions.NoScriptError:
                self._load_script()
            except redis.ResponseError as exc:
                if not _is_clock_error(exc) or attempt == 2:
                    raise _commit_error(exc) from exc
                self._clock = None  # resync, then build the command again
            except redis.RedisError as exc:
                raise _commit_error(exc) from exc
        raise StateStoreError("committing feature state to Redis failed 3 times (script/clock); check the server")

    def _load_script(self) -> None:
        try:
            self.client.script_load(COMMIT_LUA)
        except redis.RedisError as exc:
            raise _commit_error(exc) from exc

    def load_and_commit(
        self,
        load_keys: Sequence[EntityKey],
        keys: Sequence[EntityKey],
        tokens: np.ndarray,
        blobs: Blobs,
        applied_ids: Sequence[str],
        *,
        state_ttl_ms: int,
        dedup_horizon_ms: int,
    ) -> PipelinedCommit:
        """Send `load(load_keys, [])` and then `commit(...)` on one connection, replies unread.

        The server runs the load before the commit. Read them with `.load()` then `.commit()`
        (the caller can work in between, while the server runs the commit), then `.close()`.
        """
        load_chunks = self._load_chunks(load_keys, [])
        commit_chunks, written = (
            self._commit_chunks(keys, tokens, blobs, applied_ids, state_ttl_ms, dedup_horizon_ms)
            if (keys or applied_ids) else ([], np.zeros((0, 2), np.uint64))
        )
        resend = lambda: self.commit(  # noqa: E731 - when the script was not cached or the clock was off
            keys, tokens, blobs, applied_ids, state_ttl_ms=state_ttl_ms, dedup_horizon_ms=dedup_horizon_ms
        )
        client = self.client
        conn = client.connection or client.connection_pool.get_connection()
        handle = PipelinedCommit(self, conn, load_keys, bool(load_chunks), bool(commit_chunks), resend, written)
        try:
            conn.send_packed_command(load_chunks + commit_chunks)
        except BaseException as exc:
            handle.close()
            if isinstance(exc, redis.RedisError):
                raise _commit_error(exc) from exc
            raise
        return handle

    # ------------------------------------------------------------------ replies
    def _load_chunks(self, keys: Sequence[EntityKey], event_ids: Sequence[str], dedup_horizon_ms=None) -> list:
        chunks: list = []
        if keys:
            chunks += [b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1), self._state_keys_frame(keys)]
        if event_ids:
            chunks += [
                b"*%d\r\n$7\r\nEVALSHA\r\n" % (5 + len(event_ids)), _bulk(SEEN_SHA), _bulk(0),
                _bulk(self.seen_set_prefix(dedup_horizon_ms)), _bulk(int(dedup_horizon_ms)),
                self._ids_frame(event_ids),
            ]
        return chunks

    def _load_result(self, keys: Sequence[EntityKey], raw: list, seen_raw: list) -> LoadResult:
        parts = [b"" if v is None else v for v in raw]
        lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        short = np.nonzero((lens > 0) & (lens < _HEADER_LEN))[0]
        if len(short):
            ent, key = keys[int(short[0])]
            raise StateStoreError(
                f"state of {ent}={key!r} is corrupt (shorter than its header); delete it or use a new namespace"
            )
        buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
        end = np.cumsum(lens)
        start = end - lens
        present = lens > 0
        tokens = np.zeros((len(parts), 2), dtype=np.uint64)  # (version, expiry lower bound)
        if present.any():
            at = start[present]
            tokens[present] = buf[at[:, None] + np.arange(_HEADER_LEN)].view("<u8")
            start[present] += _HEADER_LEN
        return LoadResult(blobs=Blobs(buf, start, end), tokens=tokens, seen=[bool(v) for v in seen_raw])

    def _commit_chunks(
        self, keys: Sequence[EntityKey], tokens: np.ndarray, blobs: Blobs, applied_ids: Sequence[str],
        state_ttl_ms: int, dedup_horizon_ms: int, attached: Attached | None = None,
    ) -> tuple[list, np.ndarray]:
        """The framed EVALSHA and the headers (version, expiry bound) it writes, per key."""
        n, m = len(keys), len(applied_ids)
        a = len(attached.items) if attached is not None else 0
        tokens = np.asarray(tokens)
        if tokens.dtype != np.uint64 or tokens.size != 2 * n or len(blobs) != n:
            raise StateStoreError("version tokens must come from RedisStateStore.load; reload and retry")
        tokens = tokens.reshape(n, 2)
        ttl, slack = int(state_ttl_ms), int(state_ttl_ms) // 8
        est = self._server_now_ms()
        # keep the expiry if it is a full state_ttl (+ clock margin) ahead, else push it to
        # now + ttl + slack; the header records a lower bound of the key's real expiry
        keep = tokens[:, 1] >= np.uint64(est + ttl + _CLOCK_MARGIN_MS)
        written = np.empty((n, 2), dtype="<u8")
        written[:, 0] = tokens[:, 0] + np.uint64(1)
        written[:, 1] = np.where(keep, tokens[:, 1], np.uint64(max(0, est + ttl + slack - _CLOCK_MARGIN_MS)))
        head_start = np.arange(n, dtype=np.int64) * _HEADER_LEN
        head = b"".join([
            b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + n + 9 + m + n + (2 + 2 * a if a else 0)), _bulk(COMMIT_SHA), _bulk(n),
        ])
        argv = b"".join([
            _bulk(m), _bulk(ttl), _bulk(int(dedup_horizon_ms)), _bulk(tokens[:, 0].astype("<u8").tobytes()),
            _bulk(self.seen_set_prefix(dedup_horizon_ms)), _bulk(est), _bulk(_CLOCK_MARGIN_MS), _bulk(slack),
            _bulk(keep.astype(np.uint8).tobytes()),
        ])
        chunks = [
            head,
            self._state_keys_frame(keys) if n else b"",
            argv,
            self._ids_frame(applied_ids) if m else b"",
            _frame_bulks(written.view(np.uint8).ravel(), head_start, head_start + _HEADER_LEN,
                         blobs.buf, blobs.start, blobs.end),
        ]
        if a:
            items = attached.items
            chunks.append(b"".join([_bulk(a), _bulk(int(attached.ttl_ms)), *[_bulk(k) for k, _ in items],
                                    *[_bulk(v) for _, v in items]]))
        return chunks, written.astype(np.uint64)

    def _server_now_ms(self) -> int:
        """The server's clock (ms), from a TIME read at most a minute ago plus local elapsed time."""
        clock = self._clock
        mono = time.monotonic()
        if clock is None or mono - clock[1] > _CLOCK_RESYNC_S:
            try:
                sec, usec = self.client.time()
            except redis.RedisError as exc:
                raise _commit_error(exc) from exc
            mono = time.monotonic()
            clock = self._clock = (sec * 1000 + usec // 1000, mono)
        return clock[0] + int((mono - clock[1]) * 1000)


class PipelinedCommit:
    """Replies of `RedisStateStore.load_and_commit`: read `.load()`, then `.commit()`; `.close()`.

    `written_tokens` are the tokens the commit writes (per written key, in order); `as_sent` is
    False when the commit had to be built and sent again (script not cached, clock resync),
    which writes other expiry bounds: state computed from `written_tokens` is then stale.
    """

    def __init__(self, store, conn, load_keys, has_load: bool, has_commit: bool, resend, written) -> None:
        self._store = store
        self._conn = conn
        self._keys = load_keys
        self._unread = int(has_load) + int(has_commit)
        self._has_load = has_load
        self._has_commit = has_commit
        self._resend = resend
        self.written_tokens = written
        self.as_sent = True

    def _read(self):
        self._unread -= 1
        return self._conn.read_response()

    def load(self) -> LoadResult:
        """The states as they were just before the commit ran."""
        try:
            raw = self._read() if self._has_load else []
        except redis.RedisError as exc:
            self.close()
            raise _load_error(exc) from exc
        return self._store._load_result(self._keys, raw, [])

    def commit(self) -> CommitResult:
        """The commit's outcome (waits for the server to run it)."""
        if not self._has_commit:
            return CommitResult()
        try:
            reply = self._read()
        except redis.ResponseError as exc:
            if not isinstance(exc, redis.exceptions.NoScriptError) and not _is_clock_error(exc):
                self.close()
                raise _commit_error(exc) from exc
            self.close()
            if _is_clock_error(exc):
                self._store._clock = None
            self.as_sent = False
            return self._resend()
        except redis.RedisError as exc:
            self.close()
            raise _commit_error(exc) from exc
        return _commit_result(reply)

    def close(self) -> None:
        """Give the connection back (dropped if a reply was left unread)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._unread:
            conn.disconnect()
        client = self._store.client
        if client.connection is None:
            client.connection_pool.release(conn)


def _is_clock_error(exc: Exception) -> bool:
    return str(exc).startswith("EDDYCLOCK")


def _load_error(exc: Exception) -> StateStoreError:
    return StateStoreError(f"loading feature state from Redis failed: {exc}; check the server")


def _commit_error(exc: Exception) -> StateStoreError:
    return StateStoreError(f"committing feature state to Redis failed: {exc}; check the server")


def _commit_result(reply) -> CommitResult:
    bad, seen = reply
    return CommitResult(conflicts=[int(i) for i in bad], seen_conflicts=[int(j) for j in seen])
