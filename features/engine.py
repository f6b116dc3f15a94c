"""FeatureEngine: micro-batches of events in, one feature row per event out.

Per batch: extract typed columns (Python, one pass per field), load every touched
(entity, key) state and every event id's seen marker from the store in one round trip, run the
Numba kernel once per entity, compute passthrough and derived columns with numpy, then commit
all changed states and the new seen markers with one atomic compare-and-set. On a conflict the
conflicting keys are reloaded and only their events recomputed (keys are independent), then the
commit is retried; if an id we were about to apply got marked seen meanwhile, the whole batch is
reloaded and recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features.columns import ColumnPlan, Columns, extract
from features.exceptions import FeatureInputError, StateConflictError, StateStoreError
from features.kernels import STATUS_FOREIGN_STATE, window_kernel
from features.spec import FeatureSet
from features.state import Blobs, EntityLayout, StateStore


@dataclass
class FeatureBatch:
    """Feature values of a batch: `values[i, j]` is feature `names[j]` of event i."""

    names: list[str]
    values: np.ndarray
    late: np.ndarray
    """True when the event was older than the allowed lateness for some window feature."""
    seen: np.ndarray
    """True when the event id was already applied (earlier batch or earlier in this batch)."""

    def __len__(self) -> int:
        return self.values.shape[0]


@dataclass
class EngineStats:
    """Counters since the engine was built (read them for metrics)."""

    batches: int = 0
    events: int = 0
    late: int = 0
    seen: int = 0
    conflicts: int = 0
    reloads: int = 0


@dataclass
class _EntityRun:
    """One entity's share of a batch: key factorization, loaded state, kernel results."""

    layout: EntityLayout
    cols: np.ndarray  # output columns of this entity's window features
    keys: list[str]
    inv: np.ndarray
    blobs: Blobs = field(default_factory=lambda: Blobs.from_list([]))
    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    values: np.ndarray | None = None
    late: np.ndarray | None = None
    new_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Key indexes whose state changed; their new blobs are `new_blobs` (same order)."""
    new_blobs: Blobs = field(default_factory=lambda: Blobs.from_list([]))


class FeatureEngine:
    """Computes a `FeatureSet` over micro-batches, with state in a `StateStore`.

    Args:
        feature_set: the features to compute.
        store: `MemoryStateStore()` or `RedisStateStore(client, namespace)`.
        ts_field: event field holding the event time (int ms).
        id_field: event field holding the event id (deduplication).
        max_retries: commit attempts before `StateConflictError`.
    """

    def __init__(
        self,
        feature_set: FeatureSet,
        store: StateStore,
        ts_field: str,
        id_field: str,
        *,
        max_retries: int = 100,
    ) -> None:
        self.feature_set = feature_set
        self.store = store
        self.ts_field = ts_field
        self.id_field = id_field
        self.max_retries = max_retries
        self.names: list[str] = feature_set.names
        self.stats = EngineStats()
        self._plan = ColumnPlan.build(feature_set, ts_field, id_field)
        self._hash_cache: dict[str, int] = {}
        index = {n: j for j, n in enumerate(self.names)}
        self._layouts = {
            ent: EntityLayout.build(ent, feature_set.windows_of(ent), feature_set.allowed_lateness)
            for ent in feature_set.entities
        }
        self._cols = {
            ent: np.array([index[f.name] for f in lay.features], dtype=np.int64)
            for ent, lay in self._layouts.items()
        }
        self._n_windows = len(feature_set.windows)
        self._n_pass = len(feature_set.passthrough)
        self._derived = [
            (index[d.name], d.op, index[d.left], index[d.right]) for d in feature_set.derived
        ]

    # ------------------------------------------------------------------ public API
    def validate(self, events: Sequence[Mapping]) -> list[tuple[int, str]]:
        """(index, reason) for every event that `process` cannot take (send those to the DLQ)."""
        return extract(events, self._plan, self._hash_cache).problem_list()

    def process(
        self, events: Sequence[Mapping], *, partition_offsets: Mapping | None = None
    ) -> FeatureBatch:
        """Apply a micro-batch in order and return every event's feature values.

        `partition_offsets` is accepted for the edge's bookkeeping and not used: deduplication
        is by event id. Raises `FeatureInputError` if any event fails `validate`.
        """
        cols = self._columns(events)
        batch = self._run(cols, commit=True)
        self.stats.batches += 1
        self.stats.events += len(batch)
        self.stats.late += int(batch.late.sum())
        self.stats.seen += int(batch.seen.sum())
        return batch

    def rows(self, batch: FeatureBatch) -> list[dict[str, float]]:
        """One `{name: value}` dict per event, in `names` order (River-ready)."""
        names = batch.names
        return [dict(zip(names, row, strict=True)) for row in batch.values.tolist()]

    def lookup(
        self, entity: str, key: str, now_ms: int, event: Mapping | None = None
    ) -> dict[str, float]:
        """Current values of `entity`=`key`'s window features as of `now_ms`; state unchanged.

        Without `event`: the window `[b(now)-n+1, b(now)]` over the stored state only (no extra
        event; `since_prev` is the time since the key's newest event, or W when none).
        With `event` (whose `entity` field must equal `key`): exactly the full row (every
        feature, in `names` order) that `process` would compute for it now, read-only.
        """
        if event is not None:
            cols = self._columns([event])
            if event.get(entity) is None or str(event.get(entity)) != str(key):
                raise FeatureInputError(
                    f"event's {entity!r} field is not {key!r}; pass the key the event belongs to"
                )
            batch = self._run(cols, commit=False)
            return self.rows(batch)[0]
        layout = self._layouts.get(entity)
        if layout is None:
            raise FeatureInputError(
                f"no window feature is keyed by {entity!r}; known entities: {list(self._layouts)}"
            )
        if isinstance(now_ms, bool) or not isinstance(now_ms, (int, np.integer)):
            raise FeatureInputError(f"now_ms must be an int of ms, got {now_ms!r}")
        loaded = self.store.load([(entity, str(key))], [])
        n_feat = len(layout.features)
        run = _EntityRun(layout=layout, cols=self._cols[entity], keys=[str(key)], inv=np.zeros(1, np.int64))
        run.blobs, run.tokens = loaded.blobs, loaded.tokens
        self._kernel(
            run,
            np.array([int(now_ms)], dtype=np.int64),
            np.ones(1, dtype=np.bool_),
            np.zeros((n_feat, 1)),
            np.zeros((n_feat, 1), dtype=np.int64),
            np.arange(1),
            np.zeros(1, np.int64),
            np.array([0]),
        )
        assert run.values is not None
        return {f.name: float(v) for f, v in zip(layout.features, run.values[0], strict=True)}

    # ------------------------------------------------------------------ internals
    def _columns(self, events: Sequence[Mapping]) -> Columns:
        cols = extract(events, self._plan, self._hash_cache)
        if cols.problems:
            listed = cols.problem_list()
            shown = "; ".join(f"#{i}: {r}" for i, r in listed[:5])
            raise FeatureInputError(
                f"{len(listed)} event(s) cannot be processed ({shown}); call validate() and send "
                "those to the DLQ before process()"
            )
        return cols

    def _run(self, cols: Columns, *, commit: bool) -> FeatureBatch:
        m = len(cols.ids)
        values = np.zeros((m, len(self.names)), dtype=np.float64)
        late = np.zeros(m, dtype=np.bool_)
        dup = np.zeros(m, dtype=np.bool_)
        uniq_ids = list(dict.fromkeys(cols.ids))
        if len(uniq_ids) != m:  # an id repeated inside the batch: later copies are read-only
            first: set[str] = set()
            for i, eid in enumerate(cols.ids):
                if eid in first:
                    dup[i] = True
                else:
                    first.add(eid)
        if m == 0:
            return FeatureBatch(list(self.names), values, late, dup)

        runs = []
        for ent, layout in self._layouts.items():
            col = cols.keys[ent]
            keys = list(dict.fromkeys(col))
            codes = dict(zip(keys, range(len(keys))))
            inv = np.fromiter(map(codes.__getitem__, col), np.int64, m)
            runs.append(_EntityRun(layout=layout, cols=self._cols[ent], keys=keys, inv=inv))
        all_keys = [(run.layout.entity, k) for run in runs for k in run.keys]
        ask_ids = uniq_ids if (not commit or self.store.seen_on_load) else []

        known_seen: set[str] = set()  # ids a commit reported as already applied elsewhere
        for _attempt in range(self.max_retries):
            loaded = self.store.load(all_keys, ask_ids)
            known_seen.update(eid for eid, flag in zip(ask_ids, loaded.seen, strict=True) if flag)
            seen = dup.copy()
            if known_seen:
                seen |= np.fromiter((eid in known_seen for eid in cols.ids), np.bool_, m)
            pos = 0
            for run in runs:
                n = len(run.keys)
                sel = np.arange(pos, pos + n)
                run.blobs = loaded.blobs.take(sel)
                run.tokens = loaded.tokens[sel]
                pos += n
                self._compute(run, cols, seen, None)
            if not commit:
                break
            applied = [eid for eid in uniq_ids if eid not in known_seen] if known_seen else uniq_ids
            if self._commit_loop(runs, cols, seen, applied, known_seen):
                break
            self.stats.reloads += 1
        else:
            raise StateConflictError(
                f"commit failed {self.max_retries} times in a row; too many concurrent writers "
                "on the same keys: raise max_retries or partition by key"
            )

        for run in runs:
            values[:, run.cols] = run.values
            late |= run.late
        values[:, self._n_windows : self._n_windows + self._n_pass] = cols.passthrough
        self._apply_derived(values)
        return FeatureBatch(list(self.names), values, late, seen)

    def _commit_loop(
        self, runs: list[_EntityRun], cols: Columns, seen: np.ndarray, applied: list[str], known_seen: set[str]
    ) -> bool:
        """Commit, reloading/recomputing conflicting keys; False when a full reload is needed
        (an id we applied was already applied elsewhere: it is added to `known_seen`)."""
        fs = self.feature_set
        for _attempt in range(self.max_retries):
            keys: list[tuple[str, str]] = []
            where: list[tuple[_EntityRun, np.ndarray]] = []
            for run in runs:
                ent, rkeys = run.layout.entity, run.keys
                keys.extend([(ent, rkeys[k]) for k in run.new_idx.tolist()])
                where.append((run, run.new_idx))
            tokens = np.concatenate([run.tokens[run.new_idx] for run in runs] or [np.zeros(0, np.uint64)])
            blobs = Blobs.concat([run.new_blobs for run in runs])
            result = self.store.commit(
                keys, tokens, blobs, applied, state_ttl_ms=fs.state_ttl, dedup_horizon_ms=fs.dedup_horizon
            )
            if result.ok:
                return True
            self.stats.conflicts += 1
            if result.seen_conflicts:
                known_seen.update(applied[j] for j in result.seen_conflicts)
                return False
            flat = [(run, int(k)) for run, idx in where for k in idx.tolist()]
            stale = [flat[i] for i in result.conflicts]
            reloaded = self.store.load([(r.layout.entity, r.keys[k]) for r, k in stale], [])
            fresh = reloaded.blobs.to_list()
            touched: dict[int, tuple[_EntityRun, list[int]]] = {}
            for j, (run, kidx) in enumerate(stale):
                touched.setdefault(id(run), (run, []))[1].append(kidx)
                run.tokens[kidx] = reloaded.tokens[j]
            for run, kidxs in touched.values():
                blobs_now = run.blobs.to_list()
                for j, (r, kidx) in enumerate(stale):
                    if r is run:
                        blobs_now[kidx] = fresh[j]
                run.blobs = Blobs.from_list(blobs_now)
                self._compute(run, cols, seen, np.array(sorted(kidxs), dtype=np.int64))
        raise StateConflictError(
            f"commit failed {self.max_retries} times in a row; too many concurrent writers "
            "on the same keys: raise max_retries or partition by key"
        )

    def _compute(self, run: _EntityRun, cols: Columns, seen: np.ndarray, subset: np.ndarray | None) -> None:
        """Run the kernel for all keys of `run`, or only for key indexes `subset`."""
        n_keys = len(run.keys)
        if subset is None:
            ev = None
            inv = run.inv
            key_idx = np.arange(n_keys, dtype=np.int64)
        else:
            remap = np.full(n_keys, -1, dtype=np.int64)
            remap[subset] = np.arange(len(subset), dtype=np.int64)
            ev = np.nonzero(remap[run.inv] >= 0)[0]
            inv = remap[run.inv[ev]]
            key_idx = subset
        m = len(inv)
        feats = run.layout.features
        vals = np.zeros((len(feats), m), dtype=np.float64)
        hashes = np.zeros((len(feats), m), dtype=np.int64)
        for f, feat in enumerate(feats):
            if feat.agg == "distinct":
                col = cols.hashes[feat.field]  # type: ignore[index]
                hashes[f] = col if ev is None else col[ev]
            elif feat.field is not None and feat.field in cols.numeric:
                col = cols.numeric[feat.field]
                vals[f] = col if ev is None else col[ev]
        ts = cols.ts if ev is None else cols.ts[ev]
        ro = seen if ev is None else seen[ev]
        order = np.argsort(inv, kind="stable")
        self._kernel(run, ts, ro, vals, hashes, order, inv, key_idx, ev=ev)

    def _kernel(self, run, ts, ro, vals, hashes, order, inv, key_idx, ev=None) -> None:
        """Call the kernel on keys `key_idx` of `run` and store values/late/new blobs."""
        layout = run.layout
        counts = np.bincount(inv, minlength=len(key_idx))
        key_start = np.zeros(len(key_idx) + 1, dtype=np.int64)
        np.cumsum(counts, out=key_start[1:])
        blobs = run.blobs
        values, late, out_words, out_off, changed, status, bad = window_kernel(
            layout.agg,
            layout.bucket_ms,
            layout.n_buckets,
            layout.late_buckets,
            layout.fingerprint,
            key_start,
            order.astype(np.int64, copy=False),
            ts,
            ro,
            vals,
            hashes,
            blobs.buf,
            blobs.start[key_idx],
            blobs.end[key_idx],
        )
        if status != 0:
            key = run.keys[int(key_idx[bad])]
            what = (
                "was written by a different feature layout (features of this entity changed)"
                if status == STATUS_FOREIGN_STATE
                else "is corrupt"
            )
            raise StateStoreError(
                f"state of {layout.entity}={key!r} {what}; use a new namespace for the new config "
                "or delete the old state"
            )
        idx = np.nonzero(changed)[0]
        out = Blobs(out_words, out_off[:-1][idx], out_off[1:][idx])
        if ev is None:
            run.values, run.late = values, late
            run.new_idx, run.new_blobs = key_idx[idx], out
        else:
            assert run.values is not None and run.late is not None
            run.values[ev] = values
            run.late[ev] = late
            keep = np.nonzero(~np.isin(run.new_idx, key_idx))[0]
            run.new_idx = np.concatenate([run.new_idx[keep], key_idx[idx]])
            run.new_blobs = Blobs.concat([run.new_blobs.take(keep), out])

    def _apply_derived(self, values: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            self._apply_derived_ops(values)

    def _apply_derived_ops(self, values: np.ndarray) -> None:
        for out, op, left, right in self._derived:
            a = values[:, left]
            b = values[:, right]
            if op == "ratio":
                safe = np.where(b == 0.0, 1.0, b)
                values[:, out] = np.where(b == 0.0, 0.0, a / safe)
            elif op == "diff":
                values[:, out] = a - b
            elif op == "sum":
                values[:, out] = a + b
            else:
                values[:, out] = a * b


def lookup(
    engine: FeatureEngine, entity: str, key: str, now_ms: int, event: Mapping | None = None
) -> dict[str, float]:
    """Function form of `FeatureEngine.lookup` (the online lookup other services call)."""
    return engine.lookup(entity, key, now_ms, event)
