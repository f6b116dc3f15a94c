"""`ModelRegistry`: versioned, pickled model snapshots in Redis.

Keys (``ns`` = namespace, ``<name>`` = model name)::

    eddy:<ns>:models                 hash  name -> role (champion | challenger | baseline)
    eddy:<ns>:model:<name>:seq       int   last allocated version (INCR, never decreases)
    eddy:<ns>:model:<name>:current   int   the version scorers should serve
    eddy:<ns>:model:<name>:blobs     hash  version -> pickle of the estimator
    eddy:<ns>:model:<name>:info      hash  version -> JSON {created_ms, action, source_version, meta}
    eddy:<ns>:model:<name>:kept      zset  version -> created_ms: the first version of each
                                           `keep_every` period, kept for `keep_for`

A commit (one model or a whole checkpoint of several) is one Lua script: versions are allocated,
blobs and info written and ``current`` moved in one atomic step, optionally only if ``current``
still equals what the writer last saw (compare-and-set, so a rollback made with the CLI is never
overwritten by a learner that has not noticed it). Versions only grow: a rollback writes a NEW
version whose content is the old one. The last `keep` versions of each model are retained, and
(with `keep_every_ms`) the first version of each such period for `keep_for_ms`: a learner saves
a version per checkpoint, so the last 20 alone reach back 20 s at the default 1 s.

Every change produces a model-event dict ``{model, version, action, ts, detail}`` with action
``created | snapshot | rollback | promote | demote | reset``; events go to `on_event` when given,
else they queue until `drain_events()`. The caller publishes them (e.g. on ``<p>.model-events``).

Snapshots are pickles: only load a registry you trust (the pipeline's own Redis).

On Redis Cluster a multi-key script needs one hash slot: give the namespace a hash tag
(``{fraud}``) there.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from learners.exceptions import RegistryConflict, RegistryError, VersionNotFound

ModelEvent = dict[str, Any]

# KEYS: roles, then per model seq, current, blobs, info, kept. ARGV: n, keep, keep_every_ms,
# keep_for_ms, now_ms, then per model name, expected ('*' = any), blob, info, role.
_COMMIT = """
local n = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local every = tonumber(ARGV[3])
local keep_for = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
for i = 0, n - 1 do
  local expected = ARGV[6 + i * 5 + 1]
  if expected ~= '*' then
    local cur = redis.call('GET', KEYS[3 + i * 5]) or '0'
    if cur ~= expected then
      return {-1, i, cur}
    end
  end
end
local function drop(blobs, infos, version)
  redis.call('HDEL', blobs, version)
  redis.call('HDEL', infos, version)
end
local out = {}
for i = 0, n - 1 do
  local k = 2 + i * 5
  local a = 6 + i * 5
  local blobs, infos, kept = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local v = redis.call('INCR', KEYS[k])
  redis.call('HSET', blobs, v, ARGV[a + 2])
  redis.call('HSET', infos, v, ARGV[a + 3])
  redis.call('SET', KEYS[k + 1], v)
  if ARGV[a + 4] ~= '' then
    redis.call('HSETNX', KEYS[1], ARGV[a], ARGV[a + 4])
  end
  if keep > 0 then
    if every > 0 then
      -- v is kept for keep_for if it is the first version of its period
      local last = redis.call('ZREVRANGE', kept, 0, 0, 'WITHSCORES')
      if #last == 0 or math.floor(tonumber(last[2]) / every) < math.floor(now / every) then
        redis.call('ZADD', kept, now, v)
      end
      for _, old in ipairs(redis.call('ZRANGEBYSCORE', kept, '-inf', '(' .. string.format('%.0f', now - keep_for))) do
        redis.call('ZREM', kept, old)
        if tonumber(old) <= v - keep then
          drop(blobs, infos, old)
        end
      end
    end
    local old = v - keep
    if old > 0 and not redis.call('ZSCORE', kept, old) then
      drop(blobs, infos, old)
    end
  end
  out[i + 1] = v
end
return out
"""

_PROMOTE = """
local name = ARGV[1]
local role = redis.call('HGET', KEYS[1], name)
if not role then
  return {-1, ''}
end
if role == 'champion' then
  return {0, name}
end
if role == 'baseline' then
  return {-2, ''}
end
local roles = redis.call('HGETALL', KEYS[1])
local old = ''
for i = 1, #roles, 2 do
  if roles[i + 1] == 'champion' then old = roles[i] end
end
if old ~= '' then
  redis.call('HSET', KEYS[1], old, role)
end
redis.call('HSET', KEYS[1], name, 'champion')
return {1, old}
"""


@dataclass(frozen=True)
class VersionInfo:
    """One stored version of one model (no blob)."""

    name: str
    version: int
    role: str
    created_ms: int
    meta: dict[str, Any]
    action: str = "snapshot"
    source_version: int | None = None
    current: bool = False


@dataclass(frozen=True)
class Head:
    """What scorers poll: a model's current version and role."""

    version: int
    role: str | None


@dataclass(frozen=True)
class Snapshot:
    """A loaded version: the estimator plus its stored info."""

    name: str
    version: int
    model: Any
    created_ms: int
    action: str
    meta: dict[str, Any] = field(default_factory=dict)
    source_version: int | None = None


def _info_json(created_ms: int, action: str, source_version: int | None, meta_json: str) -> str:
    """The info JSON of one version, around an already encoded meta (shared by a checkpoint's models).

    >>> json.loads(_info_json(5, "snapshot", None, '{"seq": 1}'))
    {'created_ms': 5, 'action': 'snapshot', 'source_version': None, 'meta': {'seq': 1}}
    """
    head = json.dumps({"created_ms": int(created_ms), "action": action, "source_version": source_version})
    return head[:-1] + ', "meta": ' + meta_json + "}"


def _info_head(raw: bytes | str) -> dict[str, Any]:
    """The info of one version without its meta (a learner's bookkeeping: most of the JSON).

    `_info_json` writes the meta last, after three scalar fields, so the first ``, "meta": `` is
    the meta's key (a quote inside a JSON string is escaped); other layouts are parsed whole.

    >>> _info_head(_info_json(5, "snapshot", None, '{"pending": [[1, 2]]}'))
    {'created_ms': 5, 'action': 'snapshot', 'source_version': None}
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    cut = text.find(', "meta": ')
    if text.startswith('{"created_ms": ') and cut > 0:
        return json.loads(text[:cut] + "}")
    info = json.loads(text)
    info.pop("meta", None)
    return info


def _event(name: str, version: int, action: str, ts: int, detail: str) -> ModelEvent:
    """A model event as the registry emits it (one row of `eddy.model_events`)."""
    return {"model": name, "version": version, "action": action, "ts": ts, "detail": detail}


def _saved(action: str, version: int) -> str:
    """The detail of a save's event (``created``, ``snapshot``, ``reset``)."""
    return f"{action} v{version}"


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ModelRegistry:
    """Versioned snapshots of a pipeline's models in Redis (redis-py sync client)."""

    def __init__(
        self,
        redis_client: Any,
        namespace: str,
        *,
        keep: int = 20,
        keep_every_ms: int = 0,
        keep_for_ms: int = 0,
        on_event: Callable[[ModelEvent], None] | None = None,
    ):
        if keep < 0 or keep_every_ms < 0 or keep_for_ms < 0:
            raise RegistryError(f"keep={keep}, keep_every_ms={keep_every_ms}, keep_for_ms={keep_for_ms}: give "
                                "0 (keep all / none) or a positive value")
        self.redis = redis_client
        self.namespace = namespace
        self.keep = keep
        self.keep_every_ms = keep_every_ms
        self.keep_for_ms = keep_for_ms
        self.on_event = on_event
        self._events: list[ModelEvent] = []
        self._commit = redis_client.register_script(_COMMIT)
        self._promote = redis_client.register_script(_PROMOTE)

    # --- keys ---------------------------------------------------------------------------------
    @property
    def roles_key(self) -> str:
        """The hash of model name -> role."""
        return f"eddy:{self.namespace}:models"

    def key(self, name: str, part: str) -> str:
        """The key of `part` (seq, current, blobs, info) of model `name`."""
        return f"eddy:{self.namespace}:model:{name}:{part}"

    def _model_keys(self, name: str) -> list[str]:
        return [self.key(name, p) for p in ("seq", "current", "blobs", "info", "kept")]

    def _retention(self, ts: int) -> list[Any]:
        """The commit script's retention arguments (after the count of models)."""
        return [self.keep, self.keep_every_ms, self.keep_for_ms, int(ts)]

    # --- events -------------------------------------------------------------------------------
    def _emit(self, name: str, version: int, action: str, ts: int, detail: str) -> None:
        event = _event(name, version, action, ts, detail)
        if self.on_event is not None:
            self.on_event(event)
        else:
            self._events.append(event)

    def drain_events(self) -> list[ModelEvent]:
        """Return and forget the model events queued since the last call (no `on_event`)."""
        events, self._events = self._events, []
        return events

    def requeue_events(self, events: list[ModelEvent]) -> None:
        """Put back drained events that could not be delivered; the next drain returns them first."""
        self._events = list(events) + self._events

    def saved_events(self, names: list[str]) -> list[ModelEvent]:
        """The model events of the retained versions of `names` that a save wrote (``created``,
        ``snapshot``, ``reset``), exactly as `save_many` emitted them, oldest first.

        The event queue lives in the writer's memory: a learner that dies between a checkpoint and
        the publishing of its events loses them, while scorers may already serve that version. Its
        successor queues these again (`requeue_events`); a repeat is harmless, ClickHouse keeps one
        row per model, version, action and ts.
        """
        pipe = self.redis.pipeline()
        for name in names:
            pipe.hgetall(self.key(name, "info"))
        events: list[ModelEvent] = []
        for name, infos in zip(names, pipe.execute()):
            for v_raw, info_raw in sorted(infos.items(), key=lambda kv: int(kv[0])):
                info = json.loads(info_raw)
                action, version = info.get("action", "snapshot"), int(v_raw)
                if action in ("created", "snapshot", "reset"):
                    events.append(_event(name, version, action, int(info.get("created_ms", 0)), _saved(action, version)))
        events.sort(key=lambda e: (e["ts"], e["version"]))
        return events

    def _now(self, now_ms: int | None) -> int:
        if now_ms is not None:
            return int(now_ms)
        seconds, micros = self.redis.time()  # the server clock, at the I/O edge
        return int(seconds) * 1000 + int(micros) // 1000

    # --- writes -------------------------------------------------------------------------------
    def save(
        self,
        name: str,
        model: Any,
        meta: Mapping[str, Any] | None = None,
        *,
        now_ms: int | None = None,
        role: str | None = None,
        action: str | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Store `model` as the next version of `name`, make it current and return the version.

        `meta` (JSON-able) is stored with the snapshot, e.g. the learner's bookkeeping.
        `role` registers the model's role if the registry has none yet (default challenger). `action` defaults to
        ``created`` for a first version, else ``snapshot`` (``reset`` after a reset).
        `expected_version`: raise `RegistryConflict` unless current still equals it (0 = none).
        """
        versions = self.save_many(
            {name: model},
            meta,
            now_ms=now_ms,
            roles={name: role} if role else None,
            action=action,
            expected={name: expected_version} if expected_version is not None else None,
        )
        return versions[name]

    def save_many(
        self,
        models: Mapping[str, Any],
        meta: Mapping[str, Any] | str | None = None,
        *,
        now_ms: int | None = None,
        roles: Mapping[str, str | None] | None = None,
        action: str | Mapping[str, str] | None = None,
        expected: Mapping[str, int] | None = None,
    ) -> dict[str, int]:
        """Store several models atomically (a checkpoint sharing one `meta`); name -> version.

        `action` is one action for all, or per name (e.g. ``{"lr": "reset"}``; others default).
        `meta` may be given as its JSON text already (e.g. `Learner.state_json()`).
        """
        ts = self._now(now_ms)
        names = list(models)
        # the default action: `created` for a model the registry never counted, `reset` for a fresh
        # model (expected 0) over counted versions (a lost registry, `continue_from`), else `snapshot`
        fresh = names if expected is None else [n for n in names if expected.get(n) == 0]
        seqs = dict(zip(fresh, self.redis.mget([self.key(n, "seq") for n in fresh]))) if fresh else {}
        defaults: dict[str, str] = {}
        for name in names:
            if name not in seqs:
                defaults[name] = "snapshot"
            elif seqs[name] is None:
                defaults[name] = "created"
            else:
                defaults[name] = "snapshot" if expected is None else "reset"
        keys = [self.roles_key]
        args: list[Any] = [len(names), *self._retention(ts)]
        actions: dict[str, str] = {}
        try:  # once for all models: a learner's meta (its bookkeeping) is most of a checkpoint's JSON
            meta_json = meta if isinstance(meta, str) else json.dumps(dict(meta or {}))
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"meta of {', '.join(names)} is not JSON-able: {exc}") from exc
        for name in names:
            given = action.get(name) if isinstance(action, Mapping) else action
            actions[name] = given or defaults[name]
            try:
                blob = pickle.dumps(models[name], protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # pickling errors have many types
                raise RegistryError(f"cannot pickle model {name!r}: {exc}; use a picklable estimator") from exc
            info_json = _info_json(ts, actions[name], None, meta_json)
            want = "*" if expected is None or name not in expected else str(int(expected[name]))
            keys += self._model_keys(name)
            args += [name, want, blob, info_json, (roles or {}).get(name) or "challenger"]
        result = self._commit(keys=keys, args=args)
        if result and int(result[0]) == -1:
            name = names[int(result[1])]
            raise RegistryConflict(
                f"model {name!r} is at version {_decode(result[2])} in the registry, not "
                f"{expected[name] if expected else '?'}: someone rolled back or saved meanwhile; "
                "refresh from the registry, then save again"
            )
        versions = {name: int(v) for name, v in zip(names, result)}
        for name in names:
            self._emit(name, versions[name], actions[name], ts, _saved(actions[name], versions[name]))
        return versions

    def rollback(self, name: str, version: int, now_ms: int | None = None) -> int:
        """Make the content of `version` current again as a NEW version; return that version.

        The new version keeps the meta of the version that was current (the learner's
        bookkeeping moves forward, never back) and records ``source_version``.
        """
        ts = self._now(now_ms)
        blob = self.redis.hget(self.key(name, "blobs"), version)
        if blob is None:
            raise VersionNotFound(
                f"model {name!r} has no version {version}: pick one of "
                f"{self._available(name) or 'none (never saved)'} (see `eddy models ls`)"
            )
        cur = self.current_version(name)
        cur_info = self._info(name, cur) if cur else {}
        meta = dict(cur_info.get("meta", {}))
        result = self._commit(
            keys=[self.roles_key, *self._model_keys(name)],
            args=[1, *self._retention(ts), name, "*", blob, _info_json(ts, "rollback", int(version), json.dumps(meta)), ""],
        )
        new = int(result[0])
        self._emit(name, new, "rollback", ts, f"rollback to the content of v{version} (was v{cur})")
        return new

    def promote(self, name: str, now_ms: int | None = None) -> str | None:
        """Make `name` champion; the old champion takes `name`'s former role.

        Returns the previous champion (None if there was none or `name` already was). The
        baseline is never promoted: it is the yardstick every other model is compared with.
        """
        ts = self._now(now_ms)
        code, old = self._promote(keys=[self.roles_key], args=[name])
        code, old = int(code), _decode(old)
        if code == -1:
            raise VersionNotFound(
                f"model {name!r} is not in registry {self.namespace!r}: known models are "
                f"{', '.join(sorted(self.roles())) or 'none'}"
            )
        if code == -2:
            challengers = sorted(n for n, r in self.roles().items() if r == "challenger")
            raise RegistryError(
                f"model {name!r} is the baseline, which is never promoted: promote a challenger "
                f"({', '.join(challengers) or 'none configured'}) or roll the champion back"
            )
        if code == 0:
            return None
        roles = self.roles()
        self._emit(name, self.current_version(name), "promote", ts, f"champion (was {old or 'none'})")
        if old:
            self._emit(old, self.current_version(old), "demote", ts, f"{roles.get(old)} (champion is now {name})")
        return old or None

    def set_roles(self, roles: Mapping[str, str], *, only_missing: bool = True) -> dict[str, str]:
        """Register roles (only for names without one, unless `only_missing` is False).

        Returns the registry's roles afterwards: the registry wins over a config at restart.
        """
        pipe = self.redis.pipeline()
        for name, role in roles.items():
            if only_missing:
                pipe.hsetnx(self.roles_key, name, role)
            else:
                pipe.hset(self.roles_key, name, role)
        pipe.execute()
        return self.roles()

    def continue_from(self, versions: Mapping[str, int]) -> None:
        """Let each model's next version follow `versions` (name -> the highest version it ever
        had, e.g. from its model events) if the registry has not counted that far: after Redis
        lost the registry, a version must never name a second snapshot."""
        for name, version in versions.items():
            seq = self.key(name, "seq")
            current = self.redis.get(seq)
            if current is None or int(current) < int(version):
                self.redis.set(seq, int(version))

    def purge(self) -> int:
        """Delete every registry key of this namespace (replays, tests); returns keys deleted."""
        keys = list(self.redis.scan_iter(match=f"eddy:{self.namespace}:model:*", count=1000))
        keys.append(self.roles_key)
        return int(self.redis.delete(*keys))

    # --- reads --------------------------------------------------------------------------------
    def roles(self) -> dict[str, str]:
        """Model name -> role, for every model the registry knows."""
        return {_decode(k): _decode(v) for k, v in self.redis.hgetall(self.roles_key).items()}

    def current_version(self, name: str) -> int:
        """The version scorers should serve for `name` (0 when never saved)."""
        value = self.redis.get(self.key(name, "current"))
        return int(value) if value is not None else 0

    def heads(self, names: list[str] | None = None) -> dict[str, Head]:
        """Current version and role of each model, in one round trip when `names` is given."""
        if names is None:
            names = sorted(self.roles())
        pipe = self.redis.pipeline()
        pipe.hgetall(self.roles_key)
        for name in names:
            pipe.get(self.key(name, "current"))
        raw_roles, *currents = pipe.execute()
        roles = {_decode(k): _decode(v) for k, v in raw_roles.items()}
        return {
            name: Head(int(cur) if cur is not None else 0, roles.get(name))
            for name, cur in zip(names, currents)
        }

    def info(self, name: str, version: int | None = None) -> dict[str, Any]:
        """What is stored with `version` of `name` (default: the current one; {} if none):
        ``created_ms``, ``action``, ``source_version`` and the ``meta``."""
        version = self.current_version(name) if version is None else version
        return self._info(name, version) if version else {}

    def _info(self, name: str, version: int) -> dict[str, Any]:
        raw = self.redis.hget(self.key(name, "info"), version)
        return json.loads(raw) if raw is not None else {}

    def _available(self, name: str) -> list[int]:
        return sorted(int(v) for v in self.redis.hkeys(self.key(name, "blobs")))

    def snapshot(self, name: str, version: int | None = None, *, with_meta: bool = True) -> Snapshot:
        """Load `version` (default: current) of `name` with its info.

        ``with_meta=False`` leaves `Snapshot.meta` empty and skips parsing it: a hot-swap needs
        the model, not the learner bookkeeping stored with it (which can be megabytes).
        """
        if version is None:
            version = self.current_version(name)
            if version == 0:
                raise VersionNotFound(
                    f"model {name!r} has no snapshot in registry {self.namespace!r}: "
                    "start the learner once, or check the pipeline name"
                )
        blob, raw_info = self.redis.pipeline().hget(self.key(name, "blobs"), version).hget(
            self.key(name, "info"), version
        ).execute()
        if blob is None:
            raise VersionNotFound(
                f"model {name!r} has no version {version}: pick one of "
                f"{self._available(name) or 'none (never saved)'}"
            )
        try:
            model = pickle.loads(blob)
        except Exception as exc:  # unpickling errors have many types
            raise RegistryError(
                f"cannot unpickle {name!r} v{version}: {exc}; install the library versions that "
                "wrote it, or roll back to another version"
            ) from exc
        if raw_info is None:
            info = {}
        else:
            info = json.loads(raw_info) if with_meta else _info_head(raw_info)
        return Snapshot(
            name=name,
            version=int(version),
            model=model,
            created_ms=int(info.get("created_ms", 0)),
            action=info.get("action", "snapshot"),
            meta=info.get("meta", {}),
            source_version=info.get("source_version"),
        )

    def load(self, name: str, version: int | None = None) -> Any:
        """The estimator of `version` (default: current) of `name`."""
        return self.snapshot(name, version).model

    def list(self) -> list[VersionInfo]:
        """Every retained version of every model, by name then version."""
        roles = self.roles()
        names = sorted(roles)
        pipe = self.redis.pipeline()
        for name in names:
            pipe.hgetall(self.key(name, "info"))
            pipe.get(self.key(name, "current"))
        raw = pipe.execute()
        out: list[VersionInfo] = []
        for i, name in enumerate(names):
            infos, cur = raw[2 * i], raw[2 * i + 1]
            current = int(cur) if cur is not None else 0
            for v_raw, info_raw in sorted(infos.items(), key=lambda kv: int(kv[0])):
                v = int(v_raw)
                info = json.loads(info_raw)
                out.append(
                    VersionInfo(
                        name=name,
                        version=v,
                        role=roles[name],
                        created_ms=int(info.get("created_ms", 0)),
                        meta=info.get("meta", {}),
                        action=info.get("action", "snapshot"),
                        source_version=info.get("source_version"),
                        current=v == current,
                    )
                )
        return out
