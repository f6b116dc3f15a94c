"""Redis state store: one pipelined read and one atomic Lua compare-and-set per batch.

Keys (namespace = `<pipeline>` live, `<pipeline>:replay:<run_id>` for replays)::

    eddy:{namespace}:st:{entity}:{key}   -> 8-byte version token + state blob (PX state_ttl)
    eddy:{namespace}:seen:{event_id}     -> "1"                               (PX dedup_horizon)

The version token is a little-endian counter bumped on every write; the commit script checks
every key's token and every new seen marker before writing anything, so a batch is applied
entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import redis

from features.exceptions import StateStoreError
from typing import Any

from features.state import CommitResult, EntityKey, LoadResult, StateStore

# KEYS: n state keys, then m seen keys.
# ARGV: n, m, state_ttl_ms, dedup_ms,
#       expected tokens (n x 8 bytes, all-zero = key absent),
#       new values concatenated (token + blob each), their lengths (n x uint32 little-endian).
# Packing the per-key arguments into three strings keeps the command small to encode.
COMMIT_LUA = """
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local expected = ARGV[5]
local values = ARGV[6]
local lengths = ARGV[7]
local absent = string.rep('\\0', 8)
local bad = {}
local seen = {}
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
for lo = n + 1, n + m, 4000 do
  local hi = math.min(lo + 3999, n + m)
  if redis.call('EXISTS', unpack(KEYS, lo, hi)) > 0 then
    for j = lo, hi do
      if redis.call('EXISTS', KEYS[j]) == 1 then seen[#seen + 1] = j - n - 1 end
    end
  end
end
if #bad > 0 or #seen > 0 then
  return {bad, seen}
end
local pos = 1
for i = 1, n do
  local len = struct.unpack('<I4', lengths, 4 * i - 3)
  redis.call('SET', KEYS[i], string.sub(values, pos, pos + len - 1), 'PX', ARGV[3])
  pos = pos + len
end
for j = n + 1, n + m do
  redis.call('SET', KEYS[j], '1', 'PX', ARGV[4])
end
return {bad, seen}
"""

_TOKEN_LEN = 8
_ABSENT = bytes(_TOKEN_LEN)  # the token of a key that does not exist (real tokens start at 1)


class RedisStateStore(StateStore):
    """`StateStore` on a sync redis-py client (`redis.Redis`, `decode_responses=False`).

    Args:
        client: a connected `redis.Redis`; it is thread-safe, share it between engines.
        namespace: key prefix part, e.g. "fraud" or "fraud:replay:run42".
    """

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._state_prefix = f"eddy:{namespace}:st:"
        self._seen_prefix = f"eddy:{namespace}:seen:"
        self._commit = client.register_script(COMMIT_LUA)

    def state_key(self, entity: str, key: str) -> str:
        """Redis key of (entity, key)'s state."""
        return f"{self._state_prefix}{entity}:{key}"

    def seen_key(self, event_id: str) -> str:
        """Redis key of an event id's seen marker."""
        return f"{self._seen_prefix}{event_id}"

    def load(self, keys: Sequence[EntityKey], event_ids: Sequence[str]) -> LoadResult:
        """MGET the states and the seen markers in one pipelined round trip."""
        sp, kp = self._state_prefix, self._seen_prefix
        pipe = self.client.pipeline(transaction=False)
        if keys:
            pipe.mget([f"{sp}{e}:{k}" for e, k in keys])
        if event_ids:
            pipe.mget([f"{kp}{i}" for i in event_ids])
        try:
            replies = pipe.execute() if (keys or event_ids) else []
        except redis.RedisError as exc:
            raise StateStoreError(f"loading feature state from Redis failed: {exc}; check the server") from exc
        raw = replies[0] if keys else []
        seen_raw = replies[-1] if event_ids else []
        blobs: list[bytes | None] = []
        tokens: list[bytes] = []
        for v in raw:
            if v is None:
                blobs.append(None)
                tokens.append(_ABSENT)
            else:
                tokens.append(v[:_TOKEN_LEN])
                blobs.append(v[_TOKEN_LEN:])
        return LoadResult(blobs=blobs, tokens=tokens, seen=[v is not None for v in seen_raw])

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
        """Run the compare-and-set script (one round trip)."""
        if not keys and not applied_ids:
            return CommitResult()
        sp, kp = self._state_prefix, self._seen_prefix
        rkeys = [f"{sp}{e}:{k}" for e, k in keys]
        rkeys.extend([f"{kp}{i}" for i in applied_ids])
        expected = b"".join(tokens)
        if len(expected) != _TOKEN_LEN * len(keys):
            raise StateStoreError("version tokens must come from RedisStateStore.load; reload and retry")
        # next token = expected + 1 (uint64 counter), prefixed to each blob
        nxt = (np.frombuffer(expected, dtype="<u8") + np.uint64(1)).tobytes()
        parts: list[bytes] = []
        for i, blob in enumerate(blobs):
            parts.append(nxt[_TOKEN_LEN * i : _TOKEN_LEN * (i + 1)])
            parts.append(blob)
        lengths = np.fromiter((len(b) for b in blobs), dtype="<u4", count=len(blobs)) + _TOKEN_LEN
        args = [
            len(keys), len(applied_ids), int(state_ttl_ms), int(dedup_horizon_ms),
            expected, b"".join(parts), lengths.astype("<u4").tobytes(),
        ]
        try:
            bad, seen = self._commit(keys=rkeys, args=args)
        except redis.RedisError as exc:
            raise StateStoreError(f"committing feature state to Redis failed: {exc}; check the server") from exc
        return CommitResult(conflicts=[int(i) for i in bad], seen_conflicts=[int(j) for j in seen])

