"""Numba kernels: decode per-key state, run a micro-batch of events in order, encode state.

Everything here is a pure function of arrays (the inputs are never modified). One call handles
every window feature of one entity for a whole micro-batch:

- events arrive sorted by key (``order`` + ``key_start``); inside a key they keep input order;
- each key's state comes in as a byte run of ``in_bytes`` (see `features.state` for the layout:
  varints and raw little-endian 64-bit values) and goes out the same way in ``out_bytes``;
- for every event and feature the kernel first aggregates the *state* part of the window
  (``P``), then adds the event itself unless it is read-only (already seen), then applies the
  event to its bucket unless it is read-only or too late.

Aggregation codes (`AGG_CODE`) are shared with `features.state`.
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
EMPTY = np.iinfo(np.int64).min

STATUS_OK = 0
STATUS_FOREIGN_STATE = 1
STATUS_CORRUPT_STATE = 2


@njit(cache=True)
def _get_varint(buf, p, end):
    """Unsigned LEB128 at buf[p]; returns (value, next p) or (0, -1) when truncated."""
    result = 0
    shift = 0
    while p < end and shift < 64:
        byte = np.int64(buf[p])
        p += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, p
        shift += 7
    return 0, -1


@njit(cache=True)
def _put_varint(buf, p, v):
    """Write v >= 0 as unsigned LEB128 at buf[p]; returns the next p."""
    while v >= 0x80:
        buf[p] = np.uint8((v & 0x7F) | 0x80)
        v >>= 7
        p += 1
    buf[p] = np.uint8(v)
    return p + 1


@njit(cache=True)
def _get_i64(buf, p):
    v = np.int64(0)
    for j in range(8):
        v |= np.int64(buf[p + j]) << (8 * j)
    return v


@njit(cache=True)
def _put_i64(buf, p, v):
    for j in range(8):
        buf[p + j] = np.uint8((v >> (8 * j)) & 0xFF)
    return p + 8


@njit(cache=True)
def _get_f64(buf, p, bits, fview):
    bits[0] = _get_i64(buf, p)
    return fview[0]


@njit(cache=True)
def _put_f64(buf, p, x, bits, fview):
    fview[0] = x
    return _put_i64(buf, p, bits[0])


@njit(cache=True)
def _decode_key(
    buf, start, end, fingerprint, agg, bucket_ms, rsize, base, wb, c0, c1, c2, wt, maxb, dstart, dcount,
    bits, fview,
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
    if end - start < 8:
        return STATUS_CORRUPT_STATE
    if _get_i64(buf, start) != fingerprint:
        return STATUS_FOREIGN_STATE
    p = start + 8
    for f in range(n_feat):
        cnt, p = _get_varint(buf, p, end)
        if p < 0:
            return STATUS_CORRUPT_STATE
        if cnt == 0:
            continue
        zz, p = _get_varint(buf, p, end)
        if p < 0:
            return STATUS_CORRUPT_STATE
        mb = (zz >> 1) ^ -(zz & 1)
        maxb[f] = mb
        a = agg[f]
        if a == DISTINCT:
            dstart[f] = p
            dcount[f] = cnt
            for _ in range(cnt):
                _, p = _get_varint(buf, p, end)
                if p < 0 or p + 8 > end:
                    return STATUS_CORRUPT_STATE
                p += 8
            continue
        h = bucket_ms[f]
        cut = mb - rsize[f] + 1
        for _ in range(cnt):
            off, p = _get_varint(buf, p, end)
            if p < 0:
                return STATUS_CORRUPT_STATE
            bb = mb - off
            x0 = 0.0
            x1 = 0.0
            x2 = 0.0
            tt = EMPTY
            if a == COUNT or a == MEAN or a == STD:
                n_, p = _get_varint(buf, p, end)
                if p < 0:
                    return STATUS_CORRUPT_STATE
                x0 = float(n_)
            elif a == LAST or a == SINCE_PREV:
                d, p = _get_varint(buf, p, end)
                if p < 0:
                    return STATUS_CORRUPT_STATE
                tt = bb * h + d
            n_f = 0
            if a == SUM or a == MIN or a == MAX or a == LAST or a == MEAN:
                n_f = 1
            elif a == STD:
                n_f = 2
            if p + 8 * n_f > end:
                return STATUS_CORRUPT_STATE
            if a == SUM or a == MIN or a == MAX or a == LAST:
                x0 = _get_f64(buf, p, bits, fview)
            elif a == MEAN:
                x1 = _get_f64(buf, p, bits, fview)
            elif a == STD:
                x1 = _get_f64(buf, p, bits, fview)
                x2 = _get_f64(buf, p + 8, bits, fview)
            p += 8 * n_f
            if bb >= cut and bb <= mb:  # drop buckets outside the ring (config change)
                s = base[f] + bb % rsize[f]
                wb[s] = bb
                wt[s] = tt
                c0[s] = x0
                c1[s] = x1
                c2[s] = x2
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
    in_bytes,
    in_start,
    in_end,
):
    """Compute every window feature of one entity for a micro-batch.

    Parameters (F features, K keys, m events):
        agg, bucket_ms, n_buckets, late_buckets: int64[F] spec (code, H, W/H, L).
        fingerprint: int64, identifies the feature layout stored in a state blob.
        key_start: int64[K+1]; events of key k are order[key_start[k]:key_start[k+1]].
        order: int64[m] event indices sorted by key, input order kept inside a key.
        ts: int64[m] event times (ms); read_only: bool[m] (already-seen events).
        vals: float64[F, m] value per feature; hashes: int64[F, m] for distinct features.
        in_bytes: uint8[...] state blobs; key k's blob is in_bytes[in_start[k]:in_end[k]] (empty = no
            state); the runs may have gaps (e.g. a store's version tokens between them).

    Returns ``(values float64[m, F], late bool[m], out_bytes uint8[...], out_off int64[K+1],
    changed bool[K], status, bad_key)``; ``status`` is non-zero (and ``bad_key`` the key index)
    when a state blob belongs to another feature layout or is corrupt.
    """
    n_feat = agg.shape[0]
    n_keys = key_start.shape[0] - 1
    m = ts.shape[0]
    rsize = n_buckets + late_buckets
    base = np.zeros(n_feat + 1, np.int64)
    n_dist = 0
    ring_slots = 0  # slots of the ring features (not distinct)
    for f in range(n_feat):
        base[f + 1] = base[f] + rsize[f]
        if agg[f] == DISTINCT:
            n_dist += 1
        else:
            ring_slots += rsize[f]
    n_ring = n_feat - n_dist
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
    pb = np.empty(64, np.int64)
    ph = np.empty(64, np.int64)
    scratch = np.empty(65, np.int64)
    dn = np.zeros(n_feat, np.int64)
    tk = np.empty(256, np.int64)
    tv = np.empty(256, np.int64)
    tu = np.zeros(256, np.bool_)

    # A bound of the encoded states: per feature a header (<= 20 bytes) and, for a ring feature, at
    # most 36 bytes per non-empty bucket, of which a key has no more than its ring holds, nor more
    # than its old entries (each >= 1 byte of its blob) plus its events (a new key of a
    # 100,000-bucket ring must not reserve 3.6 MB).
    total = 0
    for k in range(n_keys):
        blob = in_end[k] - in_start[k]
        n_ev = key_start[k + 1] - key_start[k]
        total += 8 + 20 * n_feat + 2 * blob + 18 * n_dist * n_ev + 36 * min(ring_slots, n_ring * (blob + n_ev))
    out_bytes = np.empty(total, np.uint8)
    bits = np.zeros(1, np.int64)
    fview = bits.view(np.float64)
    out_off = np.zeros(n_keys + 1, np.int64)
    values = np.zeros((m, n_feat), np.float64)
    late = np.zeros(m, np.bool_)
    changed = np.zeros(n_keys, np.bool_)

    pos = 0
    for k in range(n_keys):
        status = _decode_key(
            in_bytes, in_start[k], in_end[k], fingerprint, agg, bucket_ms, rsize, base,
            wb, c0, c1, c2, wt, maxb, dstart, dcount, bits, fview,
        )
        if status != STATUS_OK:
            return values, late, out_bytes[:0], out_off, changed, status, k
        n_ev = key_start[k + 1] - key_start[k]
        # distinct pairs (bucket, hash) of this key, with room for one new pair per event
        for f in range(n_feat):
            cap = dcount[f] + n_ev if agg[f] == DISTINCT else 0
            dbase[f + 1] = dbase[f] + cap
        if dbase[n_feat] > pb.shape[0]:  # work buffers are reused across keys, grown on demand
            pb = np.empty(2 * dbase[n_feat], np.int64)
            ph = np.empty(2 * dbase[n_feat], np.int64)
            scratch = np.empty(2 * dbase[n_feat] + 1, np.int64)
        dn[:] = 0
        for f in range(n_feat):
            if agg[f] == DISTINCT:
                p = dstart[f]
                cut = maxb[f] - rsize[f] + 1
                for _ in range(dcount[f]):
                    off, p = _get_varint(in_bytes, p, in_end[k])
                    bb = maxb[f] - off
                    if bb >= cut:
                        q = dbase[f] + dn[f]
                        pb[q] = bb
                        ph[q] = _get_i64(in_bytes, p)
                        dn[f] += 1
                    p += 8
        # per distinct feature: table hash -> newest bucket holding it, and per-bucket counts
        # of the hashes whose newest bucket it is (answers in-order windows in O(n))
        for f in range(n_feat):
            size = 0
            if agg[f] == DISTINCT:
                size = 8
                while size < 2 * (dcount[f] + n_ev):
                    size *= 2
            tbase[f + 1] = tbase[f] + size
        if tbase[n_feat] > tk.shape[0]:
            tk = np.empty(2 * tbase[n_feat], np.int64)
            tv = np.empty(2 * tbase[n_feat], np.int64)
            tu = np.zeros(2 * tbase[n_feat], np.bool_)
        tu[: tbase[n_feat]] = False
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
                            if pc == 0.0:  # the first bucket as it is: mean * n / n may be off by an ulp
                                pm = c1[s]
                                pm2 = c2[s]
                                pc = nb_
                            else:
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
                    if include and pc > 0.0:
                        tot = pc + 1.0
                        delta = x - pm
                        pm2 = pm2 + delta * delta * pc / tot
                        pc = tot
                    elif include:  # (not x * x * 0: inf * 0 is NaN beyond |x| ~ 1.3e154)
                        pc = 1.0
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
        pos = _put_i64(out_bytes, pos, fingerprint)
        for f in range(n_feat):
            a = agg[f]
            mb = maxb[f]
            if mb == EMPTY:
                pos = _put_varint(out_bytes, pos, 0)
                continue
            cut = mb - rsize[f] + 1
            cnt = 0
            cnt_pos = -1
            if a == DISTINCT:
                for q in range(dbase[f], dbase[f] + dn[f]):
                    if pb[q] >= cut:
                        cnt += 1
                pos = _put_varint(out_bytes, pos, cnt)
            elif rsize[f] < 128:  # the count fits one byte: write it after the entries
                cnt_pos = pos
                pos += 1
            else:
                for bb in range(cut, mb + 1):
                    if wb[base[f] + bb % rsize[f]] == bb:
                        cnt += 1
                pos = _put_varint(out_bytes, pos, cnt)
            pos = _put_varint(out_bytes, pos, (mb << 1) ^ (mb >> 63))
            if a == DISTINCT:
                for q in range(dbase[f], dbase[f] + dn[f]):
                    if pb[q] >= cut:
                        pos = _put_varint(out_bytes, pos, mb - pb[q])
                        pos = _put_i64(out_bytes, pos, ph[q])
                continue
            h = bucket_ms[f]
            for bb in range(cut, mb + 1):
                s = base[f] + bb % rsize[f]
                if wb[s] != bb:
                    continue
                pos = _put_varint(out_bytes, pos, mb - bb)
                if cnt_pos >= 0:
                    cnt += 1
                if a == COUNT:
                    pos = _put_varint(out_bytes, pos, np.int64(c0[s]))
                elif a == MEAN:
                    pos = _put_varint(out_bytes, pos, np.int64(c0[s]))
                    pos = _put_f64(out_bytes, pos, c1[s], bits, fview)
                elif a == STD:
                    pos = _put_varint(out_bytes, pos, np.int64(c0[s]))
                    pos = _put_f64(out_bytes, pos, c1[s], bits, fview)
                    pos = _put_f64(out_bytes, pos, c2[s], bits, fview)
                elif a == LAST:
                    pos = _put_varint(out_bytes, pos, wt[s] - bb * h)
                    pos = _put_f64(out_bytes, pos, c0[s], bits, fview)
                elif a == SINCE_PREV:
                    pos = _put_varint(out_bytes, pos, wt[s] - bb * h)
                else:  # SUM, MIN, MAX
                    pos = _put_f64(out_bytes, pos, c0[s], bits, fview)
            if cnt_pos >= 0:
                out_bytes[cnt_pos] = np.uint8(cnt)
                if cnt == 0:  # defensive: never leave a maxb without entries behind
                    pos = cnt_pos + 1
    out_off[n_keys] = pos
    return values, late, out_bytes[:pos], out_off, changed, STATUS_OK, -1


def read_only(buf: np.ndarray) -> np.ndarray:
    """`buf` as a read-only array (a view if it is writable): the kernel is always called with
    one array type, so Numba compiles (and `warm_up` loads) one specialization, not two. States
    read from a store are read-only (`np.frombuffer`), concatenated ones are not."""
    if not buf.flags.writeable:
        return buf
    view = buf.view()
    view.flags.writeable = False
    return view


def warm_up() -> None:
    """Compile (or load from Numba's on-disk cache) the kernel and the Redis store's command
    framing with the argument types the engine passes, so the first batch is fast (a worker
    calls it before it joins its consumer group: a first compile takes 10-20 s).

    >>> warm_up()
    """
    from features.redis_store import warm_up_framing  # the store imports this module

    warm_up_framing()
    one = np.ones(1, dtype=np.int64)
    window_kernel(
        np.array([COUNT], dtype=np.int64), one, one, np.zeros(1, np.int64), 0,
        np.array([0, 1], dtype=np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
        np.zeros(1, np.bool_), np.zeros((1, 1)), np.zeros((1, 1), np.int64),
        read_only(np.zeros(0, np.uint8)), np.zeros(1, np.int64), np.zeros(1, np.int64),
    )
