"""Redis state store: one read and one atomic Lua compare-and-set per batch.

Keys (namespace = `<pipeline>` live, `<pipeline>:replay:<run_id>` for replays)::

    eddy:{namespace}:st:{entity}:{key}   -> 8-byte version token + state blob (PXAT now + state_ttl)
    eddy:{namespace}:seen:{event_id}     -> "1"                               (PXAT now + dedup_horizon)

The version token is a little-endian counter bumped on every write; the commit script checks
every key's token and marks every applied id with `SET NX` before writing any state, so a
batch is applied entirely or not at all. Seen markers are only checked at commit
(`seen_on_load = False`): a redelivered id makes the commit fail with its index, and the
engine recomputes the batch with that event read-only.

Commands are framed here (RESP) from numpy buffers by a small Numba helper and sent on a
connection of the client's pool, so a batch's ~2,000 keys and ~1,000 values cost no Python
work per argument; replies are parsed by redis-py (hiredis).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import redis
from numba import njit

from features.exceptions import StateStoreError
from features.state import Blobs, CommitResult, EntityKey, LoadResult, StateStore

# KEYS: n state keys, then m seen-marker keys.
# ARGV: m, state_ttl_ms, dedup_ms, expected tokens (n x 8 bytes, all-zero = key absent),
#       then the n new values (next token + blob each).
# 1. compare every state key's token with the one loaded (MGET);
# 2. mark every applied id (SET NX): one already there means the event was applied by someone
#    else, so undo the markers set here and report it;
# 3. write the states. Absolute expiry (PXAT) from the server clock.
COMMIT_LUA = """
local m = tonumber(ARGV[1])
local n = #KEYS - m
local expected = ARGV[4]
local absent = string.rep('\\0', 8)
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
local seen = {}
if #bad > 0 then
  for lo = n + 1, n + m, 4000 do
    local hi = math.min(lo + 3999, n + m)
    if redis.call('EXISTS', unpack(KEYS, lo, hi)) > 0 then
      for j = lo, hi do
        if redis.call('EXISTS', KEYS[j]) == 1 then seen[#seen + 1] = j - n - 1 end
      end
    end
  end
  return {bad, seen}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seen_at = string.format('%.0f', now + tonumber(ARGV[3]))
for j = n + 1, n + m do
  if not redis.call('SET', KEYS[j], '1', 'NX', 'PXAT', seen_at) then seen[#seen + 1] = j end
end
if #seen > 0 then
  local was = {}
  for k = 1, #seen do
    was[seen[k]] = true
    seen[k] = seen[k] - n - 1
  end
  for j = n + 1, n + m do
    if not was[j] then redis.call('DEL', KEYS[j]) end
  end
  return {bad, seen}
end
local state_at = string.format('%.0f', now + tonumber(ARGV[2]))
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[4 + i], 'PXAT', state_at)
end
return {bad, seen}
"""
COMMIT_SHA = hashlib.sha1(COMMIT_LUA.encode()).hexdigest()

_TOKEN_LEN = 8
_CRLF = b"\r\n"


@njit(cache=True)
def _frame_bulks(a_buf, a_start, a_end, b_buf, b_start, b_end):
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


def warm_up_framing() -> None:
    """Compile (or load from Numba's cache) the framing helper."""
    z = np.zeros(0, np.uint8)
    i = np.zeros(1, np.int64)
    _frame_bulks(z, i, i, z, i, i)


class RedisStateStore(StateStore):
    """`StateStore` on a sync redis-py client (`redis.Redis`, `decode_responses=False`).

    Args:
        client: a connected `redis.Redis` (standalone server); it is thread-safe, share it
            between engines.
        namespace: key prefix part, e.g. "fraud" or "fraud:replay:run42".
    """

    seen_on_load = False

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._state_prefix = f"eddy:{namespace}:st:"
        self._seen_prefix = f"eddy:{namespace}:seen:"
        self._seen_prefix_arr = np.frombuffer(self._seen_prefix.encode(), dtype=np.uint8)

    def state_key(self, entity: str, key: str) -> str:
        """Redis key of (entity, key)'s state."""
        return f"{self._state_prefix}{entity}:{key}"

    def seen_key(self, event_id: str) -> str:
        """Redis key of an event id's seen marker."""
        return f"{self._seen_prefix}{event_id}"

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

    def _seen_keys_frame(self, event_ids: Sequence[str]) -> np.ndarray:
        data, start, end = _encode(event_ids)
        n = len(event_ids)
        return _frame_bulks(
            self._seen_prefix_arr, np.zeros(n, np.int64), np.full(n, len(self._seen_prefix_arr), np.int64),
            data, start, end,
        )

    def _roundtrip(self, chunks: list, replies: int) -> list:
        """Send pre-framed commands on one pooled connection and read `replies` replies."""
        client = self.client
        pool = client.connection_pool
        conn = client.connection or pool.get_connection()

        def once() -> list:
            conn.send_packed_command(chunks)
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

    # ------------------------------------------------------------------ contract
    def load(self, keys: Sequence[EntityKey], event_ids: Sequence[str]) -> LoadResult:
        """MGET the states (and the seen markers of `event_ids`, if any) in one round trip."""
        chunks: list = []
        if keys:
            chunks += [b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1), self._state_keys_frame(keys)]
        if event_ids:
            chunks += [b"*%d\r\n$4\r\nMGET\r\n" % (len(event_ids) + 1), self._seen_keys_frame(event_ids)]
        try:
            replies = self._roundtrip(chunks, (1 if keys else 0) + (1 if event_ids else 0)) if chunks else []
        except redis.RedisError as exc:
            raise StateStoreError(f"loading feature state from Redis failed: {exc}; check the server") from exc
        raw = replies[0] if keys else []
        seen_raw = replies[-1] if event_ids else []
        parts = [b"" if v is None else v for v in raw]
        lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        if ((lens > 0) & (lens < _TOKEN_LEN)).any():
            i = int(np.nonzero((lens > 0) & (lens < _TOKEN_LEN))[0][0])
            raise StateStoreError(
                f"state of {keys[i][0]}={keys[i][1]!r} is corrupt (shorter than its version token); "
                "delete it or use a new namespace"
            )
        buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
        end = np.cumsum(lens)
        start = end - lens
        present = lens > 0
        tokens = np.zeros(len(parts), dtype=np.uint64)
        if present.any():
            at = start[present]
            tokens[present] = buf[at[:, None] + np.arange(_TOKEN_LEN)].view("<u8").ravel()
            start[present] += _TOKEN_LEN
        return LoadResult(blobs=Blobs(buf, start, end), tokens=tokens, seen=[v is not None for v in seen_raw])

    def commit(
        self,
        keys: Sequence[EntityKey],
        tokens: np.ndarray,
        blobs: Blobs,
        applied_ids: Sequence[str],
        *,
        state_ttl_ms: int,
        dedup_horizon_ms: int,
    ) -> CommitResult:
        """Run the compare-and-set script (one round trip)."""
        n, m = len(keys), len(applied_ids)
        if not n and not m:
            return CommitResult()
        tokens = np.asarray(tokens)
        if tokens.dtype != np.uint64 or len(tokens) != n or len(blobs) != n:
            raise StateStoreError("version tokens must come from RedisStateStore.load; reload and retry")
        expected = tokens.astype("<u8").tobytes()
        nxt = (tokens + np.uint64(1)).astype("<u8").view(np.uint8)
        tok_start = np.arange(n, dtype=np.int64) * _TOKEN_LEN
        head = b"".join([
            b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + n + m + 4 + n), _bulk(COMMIT_SHA), _bulk(n + m),
        ])
        argv = b"".join([_bulk(m), _bulk(int(state_ttl_ms)), _bulk(int(dedup_horizon_ms)), _bulk(expected)])
        chunks = [
            head,
            self._state_keys_frame(keys) if n else b"",
            self._seen_keys_frame(applied_ids) if m else b"",
            argv,
            _frame_bulks(nxt, tok_start, tok_start + _TOKEN_LEN, blobs.buf, blobs.start, blobs.end),
        ]
        try:
            try:
                (reply,) = self._roundtrip(chunks, 1)
            except redis.exceptions.NoScriptError:
                self.client.script_load(COMMIT_LUA)
                (reply,) = self._roundtrip(chunks, 1)
        except redis.RedisError as exc:
            raise StateStoreError(f"committing feature state to Redis failed: {exc}; check the server") from exc
        bad, seen = reply
        return CommitResult(conflicts=[int(i) for i in bad], seen_conflicts=[int(j) for j in seen])
