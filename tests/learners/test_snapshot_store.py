"""Served snapshots in a real Redis: exact round trip, TTL, keep-first, batch fetch; Refresher."""

from __future__ import annotations

import pytest

from learners import (
    JoinConfig,
    Learner,
    ModelRegistry,
    ModelsConfig,
    ModelSet,
    Refresher,
    SnapshotStore,
    make_snapshot,
    save_checkpoint,
)

from .streams import make_stream

pytestmark = pytest.mark.integration


def test_round_trip_is_exact_and_fetch_is_batched(redis_client, namespace):
    store = SnapshotStore(redis_client, namespace, ttl_ms=60_000)
    xs = {f"e{i}": x for i, (x, _) in enumerate(make_stream("regression", 50))}
    xs["e0"] = {"tiny": 5e-324, "big": 1.7976931348623157e308, "third": 1 / 3, "neg0": -0.0}
    store.put_many(
        make_snapshot(e, x, ts=1, served_at=2, predictions={"m": 0.1}, versions={"m": 1}) for e, x in xs.items()
    )
    got = store.fetch([*xs, "unknown"])
    assert got["unknown"] is None
    for e, x in xs.items():
        assert got[e]["x"] == x and list(got[e]["x"]) == list(x)
        assert all(repr(a) == repr(b) for a, b in zip(got[e]["x"].values(), x.values()))
    assert 0 < redis_client.pttl(store.key("e1")) <= 60_000


def test_keep_first_does_not_overwrite(redis_client, namespace):
    store = SnapshotStore(redis_client, namespace, ttl_ms=60_000)
    first = make_snapshot("e", {"a": 1.0}, ts=1, served_at=1, predictions={}, versions={})
    second = make_snapshot("e", {"a": 2.0}, ts=1, served_at=2, predictions={}, versions={})
    store.put_many([first])
    store.put_many([second], keep_first=True)
    assert store.get("e")["x"] == {"a": 1.0}
    store.put_many([second])
    assert store.get("e")["x"] == {"a": 2.0}


def test_learner_retry_with_the_store(redis_client, namespace):
    store = SnapshotStore(redis_client, namespace, ttl_ms=60_000)
    ms = ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"}))
    learner = Learner(ms, JoinConfig(early_label_wait="1s"))
    assert learner.learn({"event_id": "e1", "label": 1.0}, store.get("e1"), now_ms=0).status == "early"
    store.put_many([make_snapshot("e1", {"a": 1.0}, ts=0, served_at=5, predictions={"lr": 0.5}, versions={"lr": 0})])
    (outcome,) = learner.retry(10, store.fetch)
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
