"""Redis store: key layout, expiry, round trips, foreign state, and no lost update."""

from __future__ import annotations

import threading

import pytest
import redis

from features import (
    Attached,
    FeatureEngine,
    FeatureInputError,
    FeatureSet,
    MemoryStateStore,
    RedisStateStore,
    StateStoreError,
)
from features.state import EntityLayout, decode_blob

pytestmark = pytest.mark.integration  # a real redis-server (session fixture)

FS = FeatureSet(
    windows=[
        {"name": "n", "entity": "card", "agg": "count", "window": "2h", "bucket": "1h"},
        {"name": "s", "entity": "card", "agg": "sum", "field": "x", "window": "2h", "bucket": "1h"},
        {"name": "m", "entity": "merch", "agg": "max", "field": "x", "window": "2h", "bucket": "1h"},
    ],
    state_ttl="2h",
    dedup_horizon="30m",
)


def ev(i, card="c1", merch="m1", ts=1_000, x=1.0, prefix="e"):
    return {"id": f"{prefix}{i}", "ts": ts, "card": card, "merch": merch, "x": x}


def test_keys_values_and_expiry(redis_client: redis.Redis, namespace: str):
    engine = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    engine.process([ev(1), ev(2, card="c2", x=5.0)])
    keys = sorted(k.decode() for k in redis_client.scan_iter(f"eddy:{namespace}:*"))
    period = redis_client.time()[0] * 1000 // 1_800_000  # dedup_horizon 30m
    seen_set = f"eddy:{namespace}:seen:1800000:{period}"
    assert keys == [
        seen_set, f"eddy:{namespace}:st:card:c1", f"eddy:{namespace}:st:card:c2", f"eddy:{namespace}:st:merch:m1",
    ]
    assert redis_client.smembers(seen_set) == {b"e1", b"e2"}
    # state_ttl 2h plus slack (ttl / 8): a key expires 2h to 2h15m after its last write
    assert 8_000_000 < redis_client.pttl(f"eddy:{namespace}:st:card:c1") <= 8_100_000
    # the set of a period lives until the end of the next one: an id is remembered 30-60 minutes
    assert redis_client.pttl(seen_set) == pytest.approx((period + 2) * 1_800_000 - redis_client.time()[0] * 1000, abs=2_000)
    raw = redis_client.get(f"eddy:{namespace}:st:card:c2")
    assert int.from_bytes(raw[:8], "little") == 1  # version token
    now_ms = redis_client.time()[0] * 1000
    bound = int.from_bytes(raw[8:16], "little")  # a lower bound of the key's expiry
    assert now_ms + 7_200_000 < bound <= now_ms + redis_client.pttl(f"eddy:{namespace}:st:card:c2") + 1_000
    layout = EntityLayout.build("card", FS.windows_of("card"), FS.allowed_lateness)
    assert decode_blob(raw[16:], layout) == {
        "n": {"maxb": 0, "buckets": [(0, 1.0)]},
        "s": {"maxb": 0, "buckets": [(0, 5.0)]},
    }
    # token 8 + expiry bound 8 + fingerprint 8 + count (entries, maxb, offset, n: 4 varints) + sum (3 varints + f64)
    assert len(raw) == 8 + 8 + 8 + 4 + 11


def test_expiry_is_kept_while_far_enough_ahead_and_pushed_back_otherwise(redis_client: redis.Redis, namespace: str):
    store = RedisStateStore(redis_client, namespace)
    engine = FeatureEngine(FS, store, "ts", "id")
    key = f"eddy:{namespace}:st:card:c1"
    engine.process([ev(1)])
    first = redis_client.pttl(key)
    engine.process([ev(2)])  # expiry still > state_ttl + margin ahead: written with KEEPTTL
    assert redis_client.pttl(key) <= first
    redis_client.setrange(key, 8, (redis_client.time()[0] * 1000 + 60_000).to_bytes(8, "little"))
    redis_client.pexpire(key, 60_000)  # as if the key had last been pushed back long ago
    engine.process([ev(3)])
    assert 8_000_000 < redis_client.pttl(key) <= 8_100_000
    store._clock = (store._server_now_ms() + 5_000, store._clock[1])  # a bad clock estimate: resynced
    engine.process([ev(4)])
    assert engine.lookup("card", "c1", 1_000)["n"] == 4.0
    assert abs(store._server_now_ms() - redis_client.time()[0] * 1000) < 2_000


def _commandstats(client: redis.Redis) -> dict[str, int]:
    return {k: v["calls"] for k, v in client.info("commandstats").items()}


def test_one_read_and_one_commit_per_batch(redis_client: redis.Redis, namespace: str):
    engine = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    engine.process([ev(0)])  # loads the script
    redis_client.config_resetstat()
    engine.process([ev(i, card=f"c{i % 7}", merch=f"m{i % 3}") for i in range(1, 200)])
    stats = _commandstats(redis_client)
    # the states (load), their versions again inside the script; ids looked up there only
    assert stats.get("cmdstat_mget") == 2
    assert stats.get("cmdstat_evalsha") == 1
    assert stats.get("cmdstat_set") == 7 + 3  # one per state key
    assert stats.get("cmdstat_smismember") == 2 and stats.get("cmdstat_sadd") == 1  # two live seen sets
    assert set(stats) <= {"cmdstat_mget", "cmdstat_evalsha", "cmdstat_time", "cmdstat_set", "cmdstat_smismember",
                          "cmdstat_sadd", "cmdstat_pexpireat", "cmdstat_config", "cmdstat_config|resetstat"}, stats


def test_redelivery_across_batches_and_processes_counts_once(redis_url: str, namespace: str):
    first = FeatureEngine(FS, RedisStateStore(redis.Redis.from_url(redis_url), namespace), "ts", "id")
    first.process([ev(1, x=1.0), ev(2, x=2.0)])
    # another process: a fresh client and engine, the batch redelivered with new events mixed in
    other = FeatureEngine(FS, RedisStateStore(redis.Redis.from_url(redis_url), namespace), "ts", "id")
    batch = other.process([ev(3, x=4.0), ev(1, x=1.0), ev(2, x=2.0), ev(4, card="c2", x=8.0)])
    assert batch.seen.tolist() == [False, True, True, False]
    assert other.rows(batch) == [
        {"n": 3.0, "s": 7.0, "m": 4.0}, {"n": 3.0, "s": 7.0, "m": 4.0}, {"n": 3.0, "s": 7.0, "m": 4.0},
        {"n": 1.0, "s": 8.0, "m": 8.0},
    ]
    assert other.stats.reloads == 1  # learnt at commit: one more load + commit
    again = first.process([ev(3, x=4.0), ev(4, card="c2", x=8.0)])
    assert again.seen.all()
    assert first.lookup("card", "c1", 1_000) == {"n": 3.0, "s": 7.0}
    assert first.lookup("card", "c2", 1_000) == {"n": 1.0, "s": 8.0}
    client = redis.Redis.from_url(redis_url)
    (seen_set,) = client.scan_iter(f"eddy:{namespace}:seen:*")
    assert client.smembers(seen_set) == {f"e{i}".encode() for i in range(1, 5)}


def test_rejected_commit_leaves_no_marker(redis_client: redis.Redis, namespace: str):
    engine = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    engine.process([ev(2)])
    store = RedisStateStore(redis_client, namespace)
    loaded = store.load([("card", "c1")], [])
    result = store.commit([], loaded.tokens[:0], loaded.blobs.take([]), ["e1", "e2", "e3"],
                          state_ttl_ms=FS.state_ttl, dedup_horizon_ms=FS.dedup_horizon)
    assert result.seen_conflicts == [1] and not result.conflicts
    (seen_set,) = redis_client.scan_iter(f"eddy:{namespace}:seen:*")
    assert redis_client.smembers(seen_set) == {b"e2"}


def test_state_of_another_feature_layout_is_refused(redis_client: redis.Redis, namespace: str):
    FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id").process([ev(1)])
    other = FeatureSet(windows=[{"name": "n", "entity": "card", "agg": "sum", "field": "x", "window": "1d", "bucket": "1h"}])
    engine = FeatureEngine(other, RedisStateStore(redis_client, namespace), "ts", "id")
    with pytest.raises(StateStoreError, match="different feature layout"):
        engine.process([ev(2)])


def test_redis_down_is_a_clear_error():
    client = redis.Redis(port=1, socket_connect_timeout=0.2)
    engine = FeatureEngine(FS, RedisStateStore(client, "x"), "ts", "id")
    with pytest.raises(StateStoreError, match="check the server"):
        engine.process([ev(1)])


class InterferingRedisStore(RedisStateStore):
    """Test double: before its first commit (plain or pipelined), another worker commits a batch
    on the same keys."""

    def __init__(self, client, namespace, other_batch):
        super().__init__(client, namespace)
        self.other = FeatureEngine(FS, RedisStateStore(client, namespace), "ts", "id")
        self.other_batch = other_batch
        self.commits = 0

    def _interfere(self) -> None:
        self.commits += 1
        if self.commits == 1:
            self.other.process(self.other_batch)

    def commit(self, *args, **kw):
        self._interfere()
        return super().commit(*args, **kw)

    def load_and_commit(self, *args, **kw):
        self._interfere()
        return super().load_and_commit(*args, **kw)


def test_conflicting_key_is_reloaded_and_recomputed(redis_client: redis.Redis, namespace: str):
    store = InterferingRedisStore(redis_client, namespace, [ev(1, ts=500, x=10.0, prefix="other")])
    engine = FeatureEngine(FS, store, "ts", "id")
    batch = engine.process([ev(1, x=1.0), ev(2, card="c9", merch="m9", x=2.0)])
    assert engine.stats.conflicts >= 1 and store.commits >= 2
    # c1/m1 were recomputed on top of the other worker's event; c9/m9 were not in conflict
    assert engine.rows(batch) == [{"n": 2.0, "s": 11.0, "m": 10.0}, {"n": 1.0, "s": 2.0, "m": 2.0}]
    assert engine.lookup("card", "c1", 1_000) == {"n": 2.0, "s": 11.0}


def test_event_applied_meanwhile_by_another_worker_is_seen(redis_client: redis.Redis, namespace: str):
    store = InterferingRedisStore(redis_client, namespace, [ev(1, x=3.0)])
    engine = FeatureEngine(FS, store, "ts", "id")
    batch = engine.process([ev(1, x=3.0)])
    assert batch.seen.tolist() == [True]
    assert engine.stats.reloads == 1
    assert engine.lookup("card", "c1", 1_000) == {"n": 1.0, "s": 3.0}


@pytest.mark.parametrize(
    ("other", "want_n", "want_seen"),
    [
        ([ev(1, ts=500, x=10.0, prefix="other")], [2.0, 3.0, 4.0], [False, False, False]),  # key conflict
        ([ev(1, x=1.0)], [1.0, 2.0, 3.0], [True, False, False]),  # batch 1's event applied elsewhere
    ],
)
def test_pipelined_commit_that_does_not_land_is_redone(redis_client: redis.Redis, namespace: str, other, want_n, want_seen):
    store = InterferingRedisStore(redis_client, namespace, other)
    engine = FeatureEngine(FS, store, "ts", "id")
    out = list(engine.process_many([[ev(1, x=1.0)], [ev(2, x=2.0)], [ev(3, x=4.0)]]))
    assert [b.values[0, 0] for b in out] == want_n
    assert [bool(b.seen[0]) for b in out] == want_seen
    assert engine.stats.conflicts >= 1 and engine.stats.batches == 3
    assert engine.lookup("card", "c1", 1_000)["n"] == want_n[-1]


def test_pipelined_stream_with_empty_batch_and_bad_event(redis_client: redis.Redis, namespace: str):
    engine = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    got = []
    with pytest.raises(FeatureInputError):
        for batch in engine.process_many([[ev(1)], [], [ev(2)], [ev(3)], [{"id": "bad"}]]):
            got.append(batch.values[:, 0].tolist())
    assert got == [[1.0], [], [2.0], [3.0]]  # every batch before the bad one was committed and yielded
    assert engine.lookup("card", "c1", 1_000)["n"] == 3.0


def _hammer(make_store, workers=2, batches=40, per_batch=15, many=False):
    keys = ["c1", "c2", "c3"]
    engines = [FeatureEngine(FS, make_store(), "ts", "id") for _ in range(workers)]
    errors = []

    def work(w):
        try:
            stream = (
                [ev(f"{b}-{j}", card=keys[j % 3], merch="m1", ts=1_000 + b, x=float(j), prefix=f"w{w}-")
                 for j in range(per_batch)]
                for b in range(batches)
            )
            for _ in engines[w].process_many(stream) if many else map(engines[w].process, stream):
                pass
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = workers * batches * per_batch
    counts = {k: engines[0].lookup("card", k, 2_000)["n"] for k in keys}
    assert sum(counts.values()) == total
    sums = {k: engines[0].lookup("card", k, 2_000)["s"] for k in keys}
    expected = {k: float(workers * batches * sum(j for j in range(per_batch) if j % 3 == i)) for i, k in enumerate(keys)}
    assert sums == expected
    assert engines[0].lookup("merch", "m1", 2_000)["m"] == per_batch - 1
    return sum(e.stats.conflicts for e in engines)


def test_two_workers_on_the_same_keys_lose_no_update(redis_url: str, namespace: str):
    _hammer(lambda: RedisStateStore(redis.Redis.from_url(redis_url), namespace))


def test_two_pipelined_workers_on_the_same_keys_lose_no_update(redis_url: str, namespace: str):
    assert _hammer(lambda: RedisStateStore(redis.Redis.from_url(redis_url), namespace), many=True) > 0


def test_memory_store_is_safe_across_threads():
    store = MemoryStateStore()
    _hammer(lambda: store)


def test_corrupt_state_is_refused(redis_client: redis.Redis, namespace: str):
    engine = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    engine.process([ev(1)])
    key = f"eddy:{namespace}:st:card:c1"
    raw = redis_client.get(key)
    for bad in (raw[:-3], raw + b"\x00", raw[:24] + b"\xff" * 12, raw[:10]):
        redis_client.set(key, bad)
        with pytest.raises(StateStoreError, match="is corrupt"):
            engine.process([ev(99)])


def test_event_ids_are_remembered_one_to_two_dedup_horizons(redis_client: redis.Redis, namespace: str):
    import time

    fs = FS.model_copy(update={"dedup_horizon": 1_000})
    engine = FeatureEngine(fs, RedisStateStore(redis_client, namespace), "ts", "id")
    sec, usec = redis_client.time()
    period = (sec * 1000 + usec // 1000) // 1_000
    engine.process([ev(1)])
    assert engine.process([ev(1)]).seen.tolist() == [True]  # within the horizon
    assert engine.lookup("card", "c1", 1_000, event=ev(1)) == {"n": 1.0, "s": 1.0, "m": 1.0}
    while True:  # the set of `period` expires when period + 2 starts
        sec, usec = redis_client.time()
        if sec * 1000 + usec // 1000 >= (period + 2) * 1_000 + 50:
            break
        time.sleep(0.05)
    assert engine.process([ev(1)]).seen.tolist() == [False]  # forgotten: applied again
    assert engine.lookup("card", "c1", 1_000) == {"n": 2.0, "s": 2.0}


def test_non_ascii_keys_and_ids_and_batches_past_the_script_chunk(redis_client: redis.Redis, namespace: str):
    engine = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    batch = [ev(i, card=f"kärtchen-{i}", merch="m€", prefix="ü") for i in range(4_500)]  # > 4,000 per unpack
    assert engine.process(batch).values[:, 0].tolist() == [1.0] * 4_500
    again = engine.process(batch[:10] + [ev(9_999, card="kärtchen-3", merch="m€", prefix="ü")])
    assert again.seen.tolist() == [True] * 10 + [False]
    assert engine.lookup("card", "kärtchen-3", 1_000) == {"n": 2.0, "s": 2.0}
    assert engine.lookup("merch", "m€", 1_000) == {"m": 1.0}


def test_single_connection_client(redis_url: str, namespace: str):
    client = redis.Redis.from_url(redis_url, single_connection_client=True)
    engine = FeatureEngine(FS, RedisStateStore(client, namespace), "ts", "id")
    out = [b.values[0, 0] for b in engine.process_many([[ev(1)], [ev(2)], [ev(3)]])]
    assert out == [1.0, 2.0, 3.0]
    assert engine.process([ev(4)]).values[0, 0] == 4.0
    client.close()


def test_a_watched_key_is_read_in_the_load_round_trip(redis_client: redis.Redis, namespace: str):
    store = RedisStateStore(redis_client, namespace)
    engine = FeatureEngine(FS, store, "ts", "id")
    marker = f"eddy:{namespace}:epoch"
    redis_client.set(marker, b"e1")
    engine.process([ev(0)])  # not watched yet
    seen: list[bytes | None] = []
    store.watch(marker, seen.append)
    batch = [ev(i, card=f"c{i % 3}", x=float(i)) for i in range(1, 20)]
    redis_client.config_resetstat()
    fb = engine.process(batch)
    assert seen == [b"e1"]
    stats = _commandstats(redis_client)
    assert stats.get("cmdstat_get") == 1 and stats.get("cmdstat_mget") == 2 and stats.get("cmdstat_evalsha") == 1
    reference = FeatureEngine(FS, MemoryStateStore(), "ts", "id")
    reference.process([ev(0)])
    assert fb.values.tolist() == reference.process(batch).values.tolist()  # the load's replies still line up
    redis_client.delete(marker)
    # with the seen-set lookup in the same round trip too (a store that checks ids on load)
    store.seen_on_load = True
    loaded = store.load([("card", "c1")], ["e1", "zz"], dedup_horizon_ms=1_800_000)
    assert seen == [b"e1", None]
    assert loaded.seen == [True, False] and len(loaded.blobs) == 1
    store.load([], [])  # nothing to read: no round trip, nothing seen
    assert seen == [b"e1", None]


def test_attached_values_are_written_by_the_commit_that_lands_only(redis_client: redis.Redis, namespace: str):
    """`process(attach=...)`: the values `attach` returns for the attempt that lands are written
    with the state (SET PX), those of an attempt that conflicted never are."""
    other = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    seen: list[list[float]] = []

    class Interfering(RedisStateStore):
        commits = 0

        def commit(self, *args, **kw):
            Interfering.commits += 1
            if Interfering.commits == 1:  # another worker moves card c1 on before our first commit
                other.process([ev(9, x=4.0)])
            return super().commit(*args, **kw)

    def attach(fb):
        seen.append(fb.values[0].tolist())
        return Attached([(f"{namespace}:att:{len(seen)}".encode(), b"%d" % len(seen))], 60_000)

    engine = FeatureEngine(FS, Interfering(redis_client, namespace), "ts", "id")
    batch = engine.process([ev(1, x=2.0)], attach=attach)
    assert len(seen) == 2 and seen[0] != seen[1] and batch.values[0].tolist() == seen[1] == [2.0, 6.0, 4.0]
    assert redis_client.get(f"{namespace}:att:1") is None and redis_client.get(f"{namespace}:att:2") == b"2"
    assert 59_000 < redis_client.pttl(f"{namespace}:att:2") <= 60_000
    with pytest.raises(StateStoreError, match="attached"):
        FeatureEngine(FS, MemoryStateStore(), "ts", "id").process([ev(1)], attach=attach)


def test_warm_up_compiles_the_one_specialization_every_batch_uses(redis_client: redis.Redis, namespace: str):
    """States read from a store are read-only buffers, concatenated (pipelined) ones and the
    kernel's output are writable: the kernel and the framing get read-only ones either way, so
    `warm_up` (run by a worker before it joins its group) leaves nothing to compile for the
    first batches (it compiled a writable-buffer variant nobody called)."""
    from features import warm_up
    from features.kernels import window_kernel
    from features.redis_store import _frame_bulks_kernel

    warm_up()
    before = (list(window_kernel.signatures), list(_frame_bulks_kernel.signatures))
    engine = FeatureEngine(FS, RedisStateStore(redis_client, namespace), "ts", "id")
    engine.process([ev(1), ev(2, card="c2", merch="m2")])
    list(engine.process_many([[ev(3)], [ev(4, merch="m2")], [ev(5, card="c2")]]))
    assert (list(window_kernel.signatures), list(_frame_bulks_kernel.signatures)) == before
    assert len(before[0]) == len(before[1]) == 1
