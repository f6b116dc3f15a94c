"""Numba kernels: decode per-key state, run a micro-batch of events in order, encode state.

Everything here is a pure function of arrays (the inputs are never modified). One call handles
every window feature of one entity for a whole micro-batch:

- events arrive sorted by key (``order`` + ``key_start``); inside a key they keep input order;
- each key's state comes in as a run of int64 words in ``in_words`` (see `features.state` for the
  layout) and goes out the same way in ``out_words``;
- for every event and feature the kernel first aggregates the *state* part of the window
  (``P``), then adds the event itself unless it is read-only (already seen), then applies the
  event to its bucket unless it is read-only or too late.

Aggregation codes (`AGG_CODE`) and the number of float/int words stored per bucket
(`BUCKET_WORDS`) are shared with `features.state`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

COUNT, SUM, MEAN, MIN, MAX, STD, LAST, SINCE_PREV, DISTINCT = range(9)
AGG_CODE = {
    "count": COUNT,
    "sum": SUM,
    "mean": MEAN,
    "min": MIN,
    "max": MAX,
    "std": STD,
    "last": LAST,
    "since_prev": SINCE_PREV,
    "distinct": DISTINCT,
}
# words stored per non-empty bucket, after the bucket id (distinct: one hash per pair)
BUCKET_WORDS = np.array([1, 1, 2, 1, 1, 3, 2, 1, 1], dtype=np.int64)
EMPTY = np.iinfo(np.int64).min

STATUS_OK = 0
STATUS_FOREIGN_STATE = 1
STATUS_CORRUPT_STATE = 2


@njit(cache=True)
def _decode_key(
    in_words, in_f, start, end, fingerprint, agg, rsize, base, wb, c0, c1, c2, wt, maxb, dstart, dcount
):
    """Load one key's state into the ring work arrays; returns a status code."""
    n_feat = agg.shape[0]
    for f in range(n_feat):
        maxb[f] = EMPTY
        dcount[f] = 0
        dstart[f] = 0
        for s in range(base[f], base[f] + rsize[f]):
            wb[s] = EMPTY
    if start == end:
        return STATUS_OK
    if in_words[start] != fingerprint:
        return STATUS_FOREIGN_STATE
    p = start + 1
    for f in range(n_feat):
        if p + 2 > end:
            return STATUS_CORRUPT_STATE
        mb = in_words[p]
        cnt = in_words[p + 1]
        p += 2
        maxb[f] = mb
        a = agg[f]
        if a == DISTINCT:
            dstart[f] = p
            dcount[f] = cnt
            p += 2 * cnt
            if p > end:
                return STATUS_CORRUPT_STATE
            continue
        width = 1 + BUCKET_WORDS[a]
        if p + cnt * width > end:
            return STATUS_CORRUPT_STATE
        cut = mb - rsize[f] + 1
        for _ in range(cnt):
            bb = in_words[p]
            if bb >= cut and bb <= mb:  # drop buckets outside the ring (config change)
                s = base[f] + bb % rsize[f]
                wb[s] = bb
                if a == LAST:
                    wt[s] = in_words[p + 1]
                    c0[s] = in_f[p + 2]
                elif a == SINCE_PREV:
                    wt[s] = in_words[p + 1]
                else:
                    c0[s] = in_f[p + 1]
                    if a == MEAN:
                        c1[s] = in_f[p + 2]
                    elif a == STD:
                        c1[s] = in_f[p + 2]
                        c2[s] = in_f[p + 3]
            p += width
    if p != end:
        return STATUS_CORRUPT_STATE
    return STATUS_OK


@njit(cache=True)
def _mix(h):
    """Scramble a 64-bit hash (float bits have structured low bits) for table slots."""
    x = h ^ (h >> 31)
    x = x * np.int64(-7046029254386353131)
    return x ^ (x >> 29)


@njit(cache=True)
def _table_slot(tk, tu, tb, mask, h):
    """Index of h in the open-addressing table at tb (or of the empty slot where it goes)."""
    s = _mix(h) & mask
    while tu[tb + s] and tk[tb + s] != h:
        s = (s + 1) & mask
    return tb + s


@njit(cache=True)
def _bump(wb, c0, s, bb, delta):
    """Add delta to the per-bucket count at ring slot s, (re)claiming the slot for bucket bb."""
    if wb[s] != bb:
        wb[s] = bb
        c0[s] = 0.0
    c0[s] += delta


@njit(cache=True)
def _count_distinct(hs, k):
    """Number of distinct values among hs[:k] (sorts a copy)."""
    if k == 0:
        return 0
    tmp = np.sort(hs[:k])
    d = 1
    for j in range(1, k):
        if tmp[j] != tmp[j - 1]:
            d += 1
    return d


@njit(cache=True)
def window_kernel(
    agg,
    bucket_ms,
    n_buckets,
    late_buckets,
    fingerprint,
    key_start,
    order,
    ts,
    read_only,
    vals,
    hashes,
    in_words,
    in_off,
):
    """Compute every window feature of one entity for a micro-batch.

    Parameters (F features, K keys, m events):
        agg, bucket_ms, n_buckets, late_buckets: int64[F] spec (code, H, W/H, L).
        fingerprint: int64, identifies the feature layout stored in a state blob.
        key_start: int64[K+1]; events of key k are order[key_start[k]:key_start[k+1]].
        order: int64[m] event indices sorted by key, input order kept inside a key.
        ts: int64[m] event times (ms); read_only: bool[m] (already-seen events).
        vals: float64[F, m] value per feature; hashes: int64[F, m] for distinct features.
        in_words: int64[...] concatenated state blobs; in_off: int64[K+1] word offsets.

    Returns ``(values float64[m, F], late bool[m], out_words int64[...], out_off int64[K+1],
    changed bool[K], status, bad_key)``; ``status`` is non-zero (and ``bad_key`` the key index)
    when a state blob belongs to another feature layout or is corrupt.
    """
    n_feat = agg.shape[0]
    n_keys = key_start.shape[0] - 1
    m = ts.shape[0]
    rsize = n_buckets + late_buckets
    base = np.zeros(n_feat + 1, np.int64)
    fixed = 1
    n_dist = 0
    for f in range(n_feat):
        base[f + 1] = base[f] + rsize[f]
        if agg[f] == DISTINCT:
            fixed += 2
            n_dist += 1
        else:
            fixed += 2 + rsize[f] * (1 + BUCKET_WORDS[agg[f]])
    n_slots = base[n_feat]
    wb = np.empty(n_slots, np.int64)
    wt = np.empty(n_slots, np.int64)
    c0 = np.empty(n_slots, np.float64)
    c1 = np.empty(n_slots, np.float64)
    c2 = np.empty(n_slots, np.float64)
    maxb = np.empty(n_feat, np.int64)
    dstart = np.zeros(n_feat, np.int64)
    dcount = np.zeros(n_feat, np.int64)
    dbase = np.zeros(n_feat + 1, np.int64)
    tbase = np.zeros(n_feat + 1, np.int64)

    total = 0
    for k in range(n_keys):
        total += fixed + (in_off[k + 1] - in_off[k]) + 2 * n_dist * (key_start[k + 1] - key_start[k])
    out_words = np.empty(total, np.int64)
    out_f = out_words.view(np.float64)
    in_f = in_words.view(np.float64)
    out_off = np.zeros(n_keys + 1, np.int64)
    values = np.zeros((m, n_feat), np.float64)
    late = np.zeros(m, np.bool_)
    changed = np.zeros(n_keys, np.bool_)

    pos = 0
    for k in range(n_keys):
        status = _decode_key(
            in_words, in_f, in_off[k], in_off[k + 1], fingerprint, agg, rsize, base,
            wb, c0, c1, c2, wt, maxb, dstart, dcount,
        )
        if status != STATUS_OK:
            return values, late, out_words[:0], out_off, changed, status, k
        n_ev = key_start[k + 1] - key_start[k]
        # distinct pairs (bucket, hash) of this key, with room for one new pair per event
        for f in range(n_feat):
            cap = dcount[f] + n_ev if agg[f] == DISTINCT else 0
            dbase[f + 1] = dbase[f] + cap
        pb = np.empty(dbase[n_feat], np.int64)
        ph = np.empty(dbase[n_feat], np.int64)
        dn = np.zeros(n_feat, np.int64)
        scratch = np.empty(dbase[n_feat] + 1, np.int64)
        for f in range(n_feat):
            if agg[f] == DISTINCT:
                p = dstart[f]
                cut = maxb[f] - rsize[f] + 1
                for _ in range(dcount[f]):
                    bb = in_words[p]
                    if bb >= cut and bb <= maxb[f]:
                        q = dbase[f] + dn[f]
                        pb[q] = bb
                        ph[q] = in_words[p + 1]
                        dn[f] += 1
                    p += 2
        # per distinct feature: table hash -> newest bucket holding it, and per-bucket counts
        # of the hashes whose newest bucket it is (answers in-order windows in O(n))
        for f in range(n_feat):
            size = 0
            if agg[f] == DISTINCT:
                size = 8
                while size < 2 * (dcount[f] + n_ev):
                    size *= 2
            tbase[f + 1] = tbase[f] + size
        tk = np.empty(tbase[n_feat], np.int64)
        tv = np.empty(tbase[n_feat], np.int64)
        tu = np.zeros(tbase[n_feat], np.bool_)
        for f in range(n_feat):
            if agg[f] != DISTINCT:
                continue
            tb = tbase[f]
            mask = tbase[f + 1] - tb - 1
            for q in range(dbase[f], dbase[f] + dn[f]):
                idx = _table_slot(tk, tu, tb, mask, ph[q])
                if not tu[idx]:
                    tu[idx] = True
                    tk[idx] = ph[q]
                    tv[idx] = pb[q]
                elif pb[q] > tv[idx]:
                    tv[idx] = pb[q]
            for idx in range(tb, tbase[f + 1]):
                if tu[idx]:
                    _bump(wb, c0, base[f] + tv[idx] % rsize[f], tv[idx], 1.0)

        for j in range(key_start[k], key_start[k + 1]):
            i = order[j]
            t = ts[i]
            include = not read_only[i]
            for f in range(n_feat):
                a = agg[f]
                h = bucket_ms[f]
                b = t // h
                rs = rsize[f]
                has = maxb[f] != EMPTY
                too_late = has and b < maxb[f] - late_buckets[f]
                if too_late:
                    late[i] = True
                lo = b - n_buckets[f] + 1
                hi = b
                if has:
                    cut = maxb[f] - rs + 1
                    if lo < cut:
                        lo = cut
                    if hi > maxb[f]:
                        hi = maxb[f]
                x = vals[f, i]
                apply = include and not too_late

                if a == DISTINCT:
                    hx = hashes[f, i]
                    tb = tbase[f]
                    mask = tbase[f + 1] - tb - 1
                    idx = _table_slot(tk, tu, tb, mask, hx)
                    if not has:
                        values[i, f] = 1.0 if include else 0.0
                    elif b >= maxb[f]:
                        # window ends at the newest bucket: a hash is in it iff its newest
                        # bucket is >= lo, so sum the per-bucket counts
                        cnt = 0.0
                        for bb in range(lo, hi + 1):
                            s = base[f] + bb % rs
                            if wb[s] == bb:
                                cnt += c0[s]
                        if include and ((not tu[idx]) or tv[idx] < lo):
                            cnt += 1.0
                        values[i, f] = cnt
                    else:
                        # an older window: scan the pairs
                        k2 = 0
                        for q in range(dbase[f], dbase[f] + dn[f]):
                            if pb[q] >= lo and pb[q] <= hi:
                                scratch[k2] = ph[q]
                                k2 += 1
                        if include:
                            scratch[k2] = hx
                            k2 += 1
                        values[i, f] = _count_distinct(scratch, k2)
                    if apply:
                        append = True
                        if not tu[idx]:
                            tu[idx] = True
                            tk[idx] = hx
                            tv[idx] = b
                            _bump(wb, c0, base[f] + b % rs, b, 1.0)
                        elif tv[idx] == b:
                            append = False
                        elif tv[idx] < b:
                            old = tv[idx]
                            so = base[f] + old % rs
                            if wb[so] == old:
                                c0[so] -= 1.0
                            tv[idx] = b
                            _bump(wb, c0, base[f] + b % rs, b, 1.0)
                        else:  # the hash is already in a newer bucket; is (b, hx) stored?
                            for q in range(dbase[f], dbase[f] + dn[f]):
                                if pb[q] == b and ph[q] == hx:
                                    append = False
                                    break
                        if append:
                            q = dbase[f] + dn[f]
                            pb[q] = b
                            ph[q] = hx
                            dn[f] += 1
                        if (not has) or b > maxb[f]:
                            maxb[f] = b
                        changed[k] = True
                    continue

                # aggregate the state part of the window
                pc = 0.0
                ps = 0.0
                pm = 0.0
                pm2 = 0.0
                pmin = math.inf
                pmax = -math.inf
                pts = EMPTY
                pval = 0.0
                if has:
                    for bb in range(lo, hi + 1):
                        s = base[f] + bb % rs
                        if wb[s] != bb:
                            continue
                        if a == COUNT:
                            pc += c0[s]
                        elif a == SUM:
                            ps += c0[s]
                            pc += 1.0
                        elif a == MEAN:
                            pc += c0[s]
                            ps += c1[s]
                        elif a == MIN:
                            pc += 1.0
                            if c0[s] < pmin:
                                pmin = c0[s]
                        elif a == MAX:
                            pc += 1.0
                            if c0[s] > pmax:
                                pmax = c0[s]
                        elif a == STD:
                            nb_ = c0[s]
                            tot = pc + nb_
                            delta = c1[s] - pm
                            pm = pm + delta * nb_ / tot
                            pm2 = pm2 + c2[s] + delta * delta * pc * nb_ / tot
                            pc = tot
                        elif a == LAST:
                            if wt[s] >= pts:
                                pts = wt[s]
                                pval = c0[s]
                        else:  # SINCE_PREV
                            if wt[s] > pts:
                                pts = wt[s]

                # the value for this event
                if a == COUNT:
                    v = pc + 1.0 if include else pc
                elif a == SUM:
                    v = ps + x if include else ps
                elif a == MEAN:
                    cnt = pc + 1.0 if include else pc
                    tot_s = ps + x if include else ps
                    v = tot_s / cnt if cnt > 0 else 0.0
                elif a == MIN:
                    if include and x < pmin:
                        pmin = x
                    v = pmin if (include or pc > 0) else 0.0
                elif a == MAX:
                    if include and x > pmax:
                        pmax = x
                    v = pmax if (include or pc > 0) else 0.0
                elif a == STD:
                    if include:
                        tot = pc + 1.0
                        delta = x - pm
                        pm2 = pm2 + delta * delta * pc / tot
                        pc = tot
                    v = math.sqrt(max(pm2, 0.0) / pc) if pc > 0 else 0.0
                elif a == LAST:
                    if include and (pts == EMPTY or t >= pts):
                        v = x
                    elif pts != EMPTY:
                        v = pval
                    else:
                        v = 0.0
                else:  # SINCE_PREV
                    if pts == EMPTY:
                        v = (n_buckets[f] * h) / 1000.0
                    else:
                        v = max(t - pts, 0) / 1000.0
                values[i, f] = v

                if apply:
                    s = base[f] + b % rs
                    if wb[s] != b:
                        wb[s] = b
                        wt[s] = EMPTY
                        c1[s] = 0.0
                        c2[s] = 0.0
                        if a == MIN:
                            c0[s] = math.inf
                        elif a == MAX:
                            c0[s] = -math.inf
                        else:
                            c0[s] = 0.0
                    if a == COUNT:
                        c0[s] += 1.0
                    elif a == SUM:
                        c0[s] += x
                    elif a == MEAN:
                        c0[s] += 1.0
                        c1[s] += x
                    elif a == MIN:
                        if x < c0[s]:
                            c0[s] = x
                    elif a == MAX:
                        if x > c0[s]:
                            c0[s] = x
                    elif a == STD:
                        c0[s] += 1.0
                        delta = x - c1[s]
                        c1[s] += delta / c0[s]
                        c2[s] += delta * (x - c1[s])
                    elif a == LAST:
                        if t >= wt[s]:
                            wt[s] = t
                            c0[s] = x
                    else:
                        if t > wt[s]:
                            wt[s] = t
                    if (not has) or b > maxb[f]:
                        maxb[f] = b
                    changed[k] = True

        # encode the key's state
        out_off[k] = pos
        out_words[pos] = fingerprint
        pos += 1
        for f in range(n_feat):
            a = agg[f]
            out_words[pos] = maxb[f]
            cnt_pos = pos + 1
            pos += 2
            cnt = 0
            if maxb[f] != EMPTY:
                cut = maxb[f] - rsize[f] + 1
                if a == DISTINCT:
                    for q in range(dbase[f], dbase[f] + dn[f]):
                        if pb[q] >= cut:
                            out_words[pos] = pb[q]
                            out_words[pos + 1] = ph[q]
                            pos += 2
                            cnt += 1
                else:
                    for bb in range(cut, maxb[f] + 1):
                        s = base[f] + bb % rsize[f]
                        if wb[s] != bb:
                            continue
                        out_words[pos] = bb
                        if a == LAST:
                            out_words[pos + 1] = wt[s]
                            out_f[pos + 2] = c0[s]
                        elif a == SINCE_PREV:
                            out_words[pos + 1] = wt[s]
                        else:
                            out_f[pos + 1] = c0[s]
                            if a == MEAN:
                                out_f[pos + 2] = c1[s]
                            elif a == STD:
                                out_f[pos + 2] = c1[s]
                                out_f[pos + 3] = c2[s]
                        pos += 1 + BUCKET_WORDS[a]
                        cnt += 1
            out_words[cnt_pos] = cnt
    out_off[n_keys] = pos
    return values, late, out_words[:pos], out_off, changed, STATUS_OK, -1


def warm_up() -> None:
    """Compile (or load from Numba's on-disk cache) the kernel, so the first batch is fast.

    >>> warm_up()
    """
    one = np.ones(1, dtype=np.int64)
    window_kernel(
        np.array([COUNT], dtype=np.int64), one, one, np.zeros(1, np.int64), 0,
        np.array([0, 1], dtype=np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
        np.zeros(1, np.bool_), np.zeros((1, 1)), np.zeros((1, 1), np.int64),
        np.zeros(0, np.int64), np.zeros(2, np.int64),
    )
