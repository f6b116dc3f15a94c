"""FeatureEngine: micro-batches of events in, one feature row per event out.

Per batch: extract typed columns (Python, one pass per field), load every touched
(entity, key) state from the store in one round trip (and the seen flags of the event ids, for
stores that read them at load), run the Numba kernel once per entity, compute passthrough and
derived columns with numpy, then commit all changed states and the applied ids with one atomic
compare-and-set. On a conflict the conflicting keys are reloaded and only their events
recomputed (keys are independent), then the commit is retried; if an id we were about to apply
was already applied, the whole batch is reloaded and recomputed with that event read-only.
`process_many` overlaps a batch's commit with reading and computing the next batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features.columns import ColumnPlan, Columns, extract
from features.exceptions import FeatureInputError, StateConflictError, StateStoreError
from features.kernels import STATUS_FOREIGN_STATE, read_only, window_kernel
from features.spec import FeatureSet
from features.state import Attached, Blobs, CommitResult, EntityLayout, StateStore


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


@dataclass
class _Batch:
    """A micro-batch on its way through load, compute and commit."""

    cols: Columns
    m: int
    dup: np.ndarray
    uniq_ids: list[str]
    runs: list[_EntityRun]
    all_keys: list[tuple[str, str]]
    known_seen: set[str] = field(default_factory=set)
    """Ids known to be applied already (from load, or reported by a failed commit)."""
    seen: np.ndarray | None = None
    applied: list[str] = field(default_factory=list)
    finished: FeatureBatch | None = None
    """The values an `attach` saw for the commit attempt in flight (kept if it lands)."""


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

    @property
    def commits_attached(self) -> bool:
        """True if `process` can write `attach`'s values atomically with the state."""
        return self.store.commits_attached

    def process(
        self, events: Sequence[Mapping], *, partition_offsets: Mapping | None = None,
        attach: Callable[[FeatureBatch], Attached] | None = None,
    ) -> FeatureBatch:
        """Apply a micro-batch in order and return every event's feature values.

        With `attach` (stores that `commits_attached`), ``attach(values)`` is called with the
        batch's values before each commit attempt, and what it returns is written in the
        same atomic step as the state, only by the attempt that lands: the values returned
        are those `attach` last saw. `partition_offsets` is accepted for the edge's
        bookkeeping and not used: deduplication is by event id. Raises `FeatureInputError`
        if any event fails `validate`.
        """
        if attach is not None and not self.store.commits_attached:
            raise StateStoreError(f"{type(self.store).__name__} cannot write attached values")
        cols = self._columns(events)
        batch = self._run(cols, commit=True, attach=attach)
        self._count(batch)
        return batch

    def process_many(self, batches: Iterable[Sequence[Mapping]]) -> Iterator[FeatureBatch]:
        """`process` each micro-batch in turn, yielding its `FeatureBatch` once it is committed.

        Results and state are exactly those of calling `process` on each batch in order. With a
        store that can pipeline (`RedisStateStore`), batch i+1 is read and computed while the
        server runs batch i's commit: i+1's read is sent just ahead of i's commit, and the keys
        i writes are taken from i's own new state (what the server will hold once the commit
        lands). If that commit does not land as sent (a conflict or a redelivered id), batch i
        is finished the usual way and i+1 is read and computed again from scratch; its own
        commit is always compare-and-set, so nothing computed speculatively can be written
        over a state it was not computed from. Batch i+1 is taken from `batches` before batch
        i is yielded; if the caller stops iterating, a batch taken but not yielded is dropped
        (never committed). Raises `FeatureInputError` (after yielding every earlier batch) for
        a batch that fails `validate`.
        """
        pipelined = getattr(self.store, "load_and_commit", None)
        if pipelined is None:
            for events in batches:
                yield self.process(events)
            return
        pending: _Batch | None = None  # loaded and computed, not committed (nor yielded) yet
        for events in batches:
            try:
                nxt = self._prepare(self._columns(events))
            except FeatureInputError:
                if pending is not None:
                    yield self._count(self._complete(pending))
                raise
            if pending is None or not nxt.m or not pending.m:
                if pending is not None:
                    done, pending = pending, None
                    yield self._count(self._complete(done))
                if not nxt.m:
                    yield self._count(self._finish(nxt))
                    continue
                self._load_compute(nxt)
                pending = nxt
                continue
            fs = self.feature_set
            keys, tokens, blobs = self._writes(pending)
            handle = pipelined(
                nxt.all_keys, keys, tokens, blobs, pending.applied,
                state_ttl_ms=fs.state_ttl, dedup_horizon_ms=fs.dedup_horizon,
            )
            try:
                loaded = handle.load()
                try:
                    self._assign(nxt, loaded, [], prev=(pending, handle.written_tokens))
                    self._compute_all(nxt)
                    speculation_ok = True
                except StateStoreError:
                    speculation_ok = False  # e.g. corrupt state: raised again by the plain path below
                result = handle.commit()
            finally:
                handle.close()
            done, pending = pending, nxt
            yield self._count(self._complete(done, first=result))
            if not (result.ok and speculation_ok and handle.as_sent):  # computed on a state the server lacks
                nxt.known_seen = set()
                self._load_compute(nxt)
        if pending is not None:
            yield self._count(self._complete(pending))

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

    def _count(self, batch: FeatureBatch) -> FeatureBatch:
        self.stats.batches += 1
        self.stats.events += len(batch)
        self.stats.late += int(batch.late.sum())
        self.stats.seen += int(batch.seen.sum())
        return batch

    def _prepare(self, cols: Columns) -> _Batch:
        """Ids (in-batch duplicates flagged) and key factorization per entity."""
        m = len(cols.ids)
        dup = np.zeros(m, dtype=np.bool_)
        uniq_ids = list(dict.fromkeys(cols.ids))
        if len(uniq_ids) != m:  # an id repeated inside the batch: later copies are read-only
            first: set[str] = set()
            for i, eid in enumerate(cols.ids):
                if eid in first:
                    dup[i] = True
                else:
                    first.add(eid)
        runs = []
        if m:
            for ent, layout in self._layouts.items():
                col = cols.keys[ent]
                keys = list(dict.fromkeys(col))
                codes = dict(zip(keys, range(len(keys))))
                inv = np.fromiter(map(codes.__getitem__, col), np.int64, m)
                runs.append(_EntityRun(layout=layout, cols=self._cols[ent], keys=keys, inv=inv))
        all_keys = [(run.layout.entity, k) for run in runs for k in run.keys]
        return _Batch(cols=cols, m=m, dup=dup, uniq_ids=uniq_ids, runs=runs, all_keys=all_keys)

    def _assign(
        self, b: _Batch, loaded, ask_ids: Sequence[str], prev: tuple[_Batch, np.ndarray] | None = None
    ) -> None:
        """Take loaded state and seen flags; with `prev` (a batch and the tokens its commit writes,
        in `_writes` order), overlay what that commit writes."""
        b.known_seen.update(eid for eid, flag in zip(ask_ids, loaded.seen, strict=True) if flag)
        pos = wpos = 0
        for i, run in enumerate(b.runs):
            n = len(run.keys)
            sel = np.arange(pos, pos + n)
            run.blobs = loaded.blobs.take(sel)
            run.tokens = loaded.tokens[sel]
            pos += n
            if prev is not None:
                prun = prev[0].runs[i]
                self._overlay(run, prun, prev[1][wpos : wpos + len(prun.new_idx)])
                wpos += len(prun.new_idx)
        if prev is not None:
            applied = set(prev[0].applied)
            b.known_seen.update(eid for eid in b.uniq_ids if eid in applied)

    @staticmethod
    def _overlay(run: _EntityRun, prev: _EntityRun, written: np.ndarray) -> None:
        """Replace `run`'s loaded state of the keys `prev` writes by what `prev` writes
        (`written`: the tokens, in `prev.new_idx` order)."""
        where = dict(zip([prev.keys[k] for k in prev.new_idx.tolist()], range(len(prev.new_idx))))
        hit = np.fromiter(map(where.get, run.keys, [-1] * len(run.keys)), np.int64, len(run.keys))
        sel = np.nonzero(hit >= 0)[0]
        if not len(sel):
            return
        both = Blobs.concat([run.blobs, prev.new_blobs])
        n = len(run.keys)
        start, end = both.start[:n].copy(), both.end[:n].copy()
        start[sel] = both.start[n + hit[sel]]
        end[sel] = both.end[n + hit[sel]]
        run.blobs = Blobs(both.buf, start, end)
        run.tokens = run.tokens.copy()
        run.tokens[sel] = written[hit[sel]]

    def _compute_all(self, b: _Batch) -> None:
        b.seen = b.dup.copy()
        if b.known_seen:
            b.seen |= np.fromiter((eid in b.known_seen for eid in b.cols.ids), np.bool_, b.m)
        for run in b.runs:
            self._compute(run, b.cols, b.seen, None)
        known = b.known_seen
        b.applied = [eid for eid in b.uniq_ids if eid not in known] if known else b.uniq_ids

    def _load_compute(self, b: _Batch, *, commit: bool = True) -> None:
        ask = b.uniq_ids if (not commit or self.store.seen_on_load) else []
        self._assign(b, self.store.load(b.all_keys, ask, dedup_horizon_ms=self.feature_set.dedup_horizon), ask)
        self._compute_all(b)

    def _run(self, cols: Columns, *, commit: bool,
             attach: Callable[[FeatureBatch], Attached] | None = None) -> FeatureBatch:
        b = self._prepare(cols)
        if not b.m:
            return self._finish(b)
        self._load_compute(b, commit=commit)
        return self._complete(b, attach=attach) if commit else self._finish(b)

    def _complete(self, b: _Batch, first: CommitResult | None = None,
                  attach: Callable[[FeatureBatch], Attached] | None = None) -> FeatureBatch:
        """Commit `b` (its first attempt's outcome may be given), reloading until it lands."""
        for _attempt in range(self.max_retries):
            if self._commit_loop(b, first, attach):
                return b.finished if b.finished is not None else self._finish(b)
            first = None
            self.stats.reloads += 1
            self._load_compute(b)
        raise StateConflictError(
            f"commit failed {self.max_retries} times in a row; too many concurrent writers "
            "on the same keys: raise max_retries or partition by key"
        )

    def _finish(self, b: _Batch) -> FeatureBatch:
        values = np.zeros((b.m, len(self.names)), dtype=np.float64)
        late = np.zeros(b.m, dtype=np.bool_)
        for run in b.runs:
            values[:, run.cols] = run.values
            late |= run.late
        values[:, self._n_windows : self._n_windows + self._n_pass] = b.cols.passthrough
        self._apply_derived(values)
        return FeatureBatch(list(self.names), values, late, b.dup if b.seen is None else b.seen)

    @staticmethod
    def _writes(b: _Batch) -> tuple[list[tuple[str, str]], np.ndarray, Blobs]:
        """Keys, loaded tokens and new blobs of every state `b` changes."""
        keys: list[tuple[str, str]] = []
        for run in b.runs:
            ent, rkeys = run.layout.entity, run.keys
            keys.extend([(ent, rkeys[k]) for k in run.new_idx.tolist()])
        tokens = np.concatenate([run.tokens[run.new_idx] for run in b.runs]) if b.runs else np.zeros(0, np.uint64)
        return keys, tokens, Blobs.concat([run.new_blobs for run in b.runs])

    def _commit_loop(self, b: _Batch, first: CommitResult | None = None,
                     attach: Callable[[FeatureBatch], Attached] | None = None) -> bool:
        """Commit, reloading/recomputing conflicting keys; False when a full reload is needed
        (an id we applied was already applied elsewhere: it is added to `b.known_seen`)."""
        fs = self.feature_set
        for _attempt in range(self.max_retries):
            keys, tokens, blobs = self._writes(b)
            if first is not None:
                result, first = first, None
            else:
                attached = None
                if attach is not None:
                    b.finished = self._finish(b)
                    attached = attach(b.finished)
                result = self.store.commit(
                    keys, tokens, blobs, b.applied, state_ttl_ms=fs.state_ttl, dedup_horizon_ms=fs.dedup_horizon,
                    attached=attached,
                )
            if result.ok:
                return True
            b.finished = None
            self.stats.conflicts += 1
            if result.seen_conflicts:
                b.known_seen.update(b.applied[j] for j in result.seen_conflicts)
                return False
            flat = [(run, int(k)) for run in b.runs for k in run.new_idx.tolist()]
            stale = [flat[i] for i in result.conflicts]
            reloaded = self.store.load([(r.layout.entity, r.keys[k]) for r, k in stale], [])
            fresh = reloaded.blobs.to_list()
            touched: dict[int, tuple[_EntityRun, list[int]]] = {}
            for j, (run, kidx) in enumerate(stale):
                touched.setdefault(id(run), (run, []))[1].append(kidx)
            for run, kidxs in touched.values():
                blobs_now = run.blobs.to_list()
                run.tokens = run.tokens.copy()
                for j, (r, kidx) in enumerate(stale):
                    if r is run:
                        blobs_now[kidx] = fresh[j]
                        run.tokens[kidx] = reloaded.tokens[j]
                run.blobs = Blobs.from_list(blobs_now)
                self._compute(run, b.cols, b.seen, np.array(sorted(kidxs), dtype=np.int64))
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
            read_only(blobs.buf),
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
