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

import redis

from features.exceptions import StateStoreError
from typing import Any

from features.state import CommitResult, EntityKey, LoadResult, StateStore

# KEYS: n state keys, then m seen keys.
# ARGV: n, m, state_ttl_ms, dedup_ms, n expected tokens ("" = absent), n new values.
COMMIT_LUA = """
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local bad = {}
local seen = {}
for lo = 1, n, 4000 do
  local hi = math.min(lo + 3999, n)
  local cur = redis.call('MGET', unpack(KEYS, lo, hi))
  for i = lo, hi do
    local v = cur[i - lo + 1]
    local token = ''
    if v then token = string.sub(v, 1, 8) end
    if token ~= ARGV[4 + i] then bad[#bad + 1] = i - 1 end
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
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[4 + n + i], 'PX', ARGV[3])
end
for j = n + 1, n + m do
  redis.call('SET', KEYS[j], '1', 'PX', ARGV[4])
end
return {bad, seen}
"""

_TOKEN_LEN = 8


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
                tokens.append(b"")
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
        new_values = [_next_token(t) + b for t, b in zip(tokens, blobs, strict=True)]
        args = [len(keys), len(applied_ids), int(state_ttl_ms), int(dedup_horizon_ms), *tokens, *new_values]
        try:
            bad, seen = self._commit(keys=rkeys, args=args)
        except redis.RedisError as exc:
            raise StateStoreError(f"committing feature state to Redis failed: {exc}; check the server") from exc
        return CommitResult(conflicts=[int(i) for i in bad], seen_conflicts=[int(j) for j in seen])


def _next_token(token: bytes) -> bytes:
    current = int.from_bytes(token, "little") if token else 0
    return ((current + 1) % (1 << 64)).to_bytes(_TOKEN_LEN, "little")
