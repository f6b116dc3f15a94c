"""Glue between a `ModelSet` and a `ModelRegistry`: checkpoint, hot-swap refresh and restore.

One learner process owns learning: it calls `save_checkpoint` every snapshot interval.
Scorers (and the learner itself, to notice CLI rollbacks and promotes) call `refresh` every
``model_refresh``: one round trip when nothing changed, a load per changed model otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from learners.exceptions import VersionNotFound
from learners.model_set import ModelSet
from learners.registry import ModelRegistry, Snapshot


def save_checkpoint(
    registry: ModelRegistry,
    model_set: ModelSet,
    meta: Mapping[str, Any] | str | None = None,
    *,
    now_ms: int | None = None,
    actions: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Save every model of `model_set` atomically with `meta` (a dict, or its JSON text); record
    and return the versions.

    `actions` names a model's event action, e.g. ``{"lr": "reset"}`` after a drift reset
    (default ``created`` for a first version, else ``snapshot``).

    Raises `RegistryConflict` if a model's current version is not the one `model_set` holds
    (someone rolled back or saved meanwhile): call `refresh`, then save again.
    """
    versions = registry.save_many(
        model_set.models,
        meta,
        now_ms=now_ms,
        roles=model_set.roles,
        action=actions,
        expected=model_set.versions,
    )
    model_set.set_versions(versions)
    return versions


def refresh(registry: ModelRegistry, model_set: ModelSet, *, with_meta: bool = False) -> dict[str, Snapshot]:
    """Adopt the registry's roles and hot-swap every model whose current version changed.

    Returns the snapshots that were loaded (empty when nothing changed); their `meta` only
    ``with_meta`` (a restore needs the learner's bookkeeping, a hot-swap does not).
    """
    return {snap.name: snap for snap in refresh_steps(registry, model_set, with_meta=with_meta)}


def refresh_steps(registry: ModelRegistry, model_set: ModelSet, *, with_meta: bool = False) -> Iterator[Snapshot]:
    """`refresh`, one model at a time: each snapshot is yielded once it is swapped in, so an event
    loop can run a batch between two loads (a Hoeffding tree unpickles in a few ms).

    The heads are read once, first; a model another refresh swapped meanwhile is left as it is.
    A head pruned before its turn (the learner saved `keep` times since: a small `keep_last`)
    is read again and the newer one loaded.
    """
    heads = registry.heads(model_set.names)
    roles = {name: head.role for name, head in heads.items() if head.role is not None}
    if roles:
        model_set.set_roles(roles)
    before = model_set.versions
    for name, head in heads.items():
        if head.version and head.version != before[name] and model_set.versions[name] == before[name]:
            try:
                snap = registry.snapshot(name, head.version, with_meta=with_meta)
            except VersionNotFound:
                head = registry.heads([name])[name]
                if not head.version or head.version == before[name]:
                    continue
                snap = registry.snapshot(name, head.version, with_meta=with_meta)
            model_set.swap(name, snap.model, snap.version)
            yield snap


def restore(registry: ModelRegistry, model_set: ModelSet) -> dict[str, Any] | None:
    """At start-up: register roles, load every saved model, return the newest learner meta.

    Roles already in the registry win over the config's. The returned meta is the one with the
    highest ``seq`` among the models' current versions (None when nothing was ever saved): give
    it to `Learner.load_state` and seek the labels topic to its offsets.
    """
    registry.set_roles(model_set.roles, only_missing=True)
    refresh(registry, model_set)
    latest = latest_meta(registry, model_set.names)
    return latest[0] if latest is not None else None


def latest_meta(registry: ModelRegistry, names: list[str]) -> tuple[dict[str, Any], int] | None:
    """The learner meta with the highest ``seq`` among the current versions of `names`, and when
    that checkpoint was saved (ms); None when none was: what a learner resumes from, whether or
    not its models changed."""
    best: tuple[dict[str, Any], int] | None = None
    for name in names:
        info = registry.info(name)
        meta = info.get("meta")
        if meta and (best is None or meta.get("seq", -1) > best[0].get("seq", -1)):
            best = (meta, int(info.get("created_ms", 0)))
    return best


class Refresher:
    """Polls the registry at most every `interval_ms` and hot-swaps changed models.

    `lags_ms` records, for each swap, how long after its save the version went live here
    (``now_ms - created_ms``): the snapshot lag of this worker.

    Time is injected: call `maybe_refresh(now_ms)` from the worker's loop or timer.
    """

    def __init__(self, registry: ModelRegistry, model_set: ModelSet, interval_ms: int):
        if interval_ms < 0:
            raise ValueError(f"interval_ms={interval_ms}: give 0 (every call) or a positive interval")
        self.registry = registry
        self.model_set = model_set
        self.interval_ms = interval_ms
        self.last_ms: int | None = None
        self.lags_ms: list[int] = []

    def maybe_refresh(self, now_ms: int) -> dict[str, Snapshot]:
        """Refresh if the interval has passed since the last poll; return what was loaded."""
        if self.last_ms is not None and now_ms - self.last_ms < self.interval_ms:
            return {}
        self.last_ms = now_ms
        loaded = refresh(self.registry, self.model_set)
        self.lags_ms.extend(now_ms - snap.created_ms for snap in loaded.values())
        return loaded
