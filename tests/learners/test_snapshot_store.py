"""Served snapshots in a real Redis (`streams.snapshots.RedisSnapshots`, the store the worker
uses): exact round trip, TTL, batch fetch, the learner's retry through it; Refresher."""

from __future__ import annotations

import numpy as np
import pytest

from learners import (
    JoinConfig,
    Learner,
    ModelRegistry,
    ModelsConfig,
    ModelSet,
    Refresher,
    save_checkpoint,
)
from streams.snapshots import RedisSnapshots, Served, Snapshot

pytestmark = pytest.mark.integration


def snapshot(event_id: str, features: list[float], prediction: float = 0.5) -> Snapshot:
    return Snapshot(event_id, "k", event_ts=1, served_ts=2, latency_ms=0.1, features=np.array(features),
                    served=(Served("lr", 3, "champion", prediction),), topic="t", partition=0, offset=7)


def test_round_trip_is_exact_and_fetch_is_batched(redis_client, namespace):
    store = RedisSnapshots(redis_client, namespace, ttl_ms=60_000)
    odd = [5e-324, 1.7976931348623157e308, 1 / 3, -0.0, float("nan")]
    snaps = [snapshot(f"e{i}", [i * 0.1, i / 7]) for i in range(50)] + [snapshot("odd", odd)]
    store.put_many(snaps)
    got = store.get_many([s.event_id for s in snaps] + ["unknown"])
    assert got[-1] is None
    for want, have in zip(snaps, got):
        assert have.features.tobytes() == want.features.astype(np.float64).tobytes()  # bit for bit
        assert (have.event_id, have.served, have.offset) == (want.event_id, want.served, want.offset)
    assert 0 < redis_client.pttl(f"eddy:{namespace}:snap:e1") <= 60_000


def test_ids_are_framed_by_their_utf8_bytes(redis_client, namespace):
    store = RedisSnapshots(redis_client, namespace, ttl_ms=60_000)
    ids = ["çà-€", "e\r\n*3", "", "x" * 5000, "🂡"]
    store.put_many([snapshot(e, [float(i)]) for i, e in enumerate(ids)])
    got = store.get_many(ids)
    assert [g.event_id for g in got] == ids and [g.features[0] for g in got] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert redis_client.ping()  # the connection is still in step


def test_learner_retry_with_the_store(redis_client, namespace):
    store = RedisSnapshots(redis_client, namespace, ttl_ms=60_000)
    ms = ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"}))
    learner = Learner(ms, JoinConfig(early_label_wait="1s"))

    def fetch(event_ids: list[str]) -> dict:
        return {e: None if s is None else {"x": s.x(["a"]), "predictions": {"lr": s.served[0].prediction}}
                for e, s in zip(event_ids, store.get_many(event_ids))}

    assert learner.learn({"event_id": "e1", "label": 1.0}, fetch(["e1"])["e1"], now_ms=0).status == "early"
    store.put_many([snapshot("e1", [1.0])])
    (outcome,) = learner.retry(10, fetch)
    assert outcome.status == "learned"


def test_refresher_polls_on_its_interval_and_measures_lag(redis_client, namespace):
    config = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"}, baseline=False)
    learner_set, scorer_set = ModelSet(config), ModelSet(config)
    registry = ModelRegistry(redis_client, namespace)
    refresher = Refresher(registry, scorer_set, interval_ms=1_000)
    save_checkpoint(registry, learner_set, now_ms=10_000)
    assert set(refresher.maybe_refresh(10_250)) == {"lr"} and refresher.lags_ms == [250]
    save_checkpoint(registry, learner_set, now_ms=10_400)
    assert refresher.maybe_refresh(10_900) == {}  # within the interval: no poll
    assert scorer_set.versions["lr"] == 1
    assert set(refresher.maybe_refresh(11_250)) == {"lr"} and refresher.lags_ms == [250, 850]
    assert scorer_set.versions["lr"] == 2


def test_learned_marks_live_as_long_as_snapshots(redis_client, namespace):
    store = RedisSnapshots(redis_client, namespace, ttl_ms=60_000)
    store.mark_learned(["a", "b"])
    store.mark_learned([])
    assert store.learned_many(["a", "x", "b"]) == [True, False, True] and store.learned_many([]) == []
    assert 0 < redis_client.pttl(f"eddy:{namespace}:learned:a") <= 60_000
