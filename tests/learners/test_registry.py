"""ModelRegistry against a real redis-server: versions, rollback, promote, events, CAS, resume."""

from __future__ import annotations

import pytest

from learners import (
    JoinConfig,
    Learner,
    ModelRegistry,
    ModelsConfig,
    ModelSet,
    ModelSpec,
    RegistryConflict,
    RegistryError,
    VersionNotFound,
    build_model,
    predict,
    refresh,
    refresh_steps,
    restore,
    save_checkpoint,
)

from .streams import make_stream

pytestmark = pytest.mark.integration


def trained(n: int, seed: int = 0):
    model = build_model(ModelSpec(name="m", model="logreg"), "binary")
    for x, y in make_stream("binary", n, seed=seed):
        model.learn_one(x, bool(y))
    return model


def score(model, x={"a": 0.3, "b": -1.2, "c": 4.0}) -> float:  # noqa: B006 - read only
    return predict("binary", model, x).score


def test_versions_are_monotonic_and_load_round_trips(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace)
    assert reg.current_version("lr") == 0
    models = [trained(n) for n in (10, 50, 200)]
    versions = [reg.save("lr", m, {"n": i}, now_ms=1000 + i, role="champion") for i, m in enumerate(models)]
    assert versions == [1, 2, 3]
    assert reg.current_version("lr") == 3
    assert score(reg.load("lr")) == score(models[2])
    assert score(reg.load("lr", 1)) == score(models[0])
    snap = reg.snapshot("lr", 2)
    assert (snap.version, snap.meta, snap.created_ms, snap.action) == (2, {"n": 1}, 1001, "snapshot")
    events = reg.drain_events()
    assert [(e["model"], e["version"], e["action"], e["ts"]) for e in events] == [
        ("lr", 1, "created", 1000), ("lr", 2, "snapshot", 1001), ("lr", 3, "snapshot", 1002)
    ]
    assert reg.drain_events() == []
    assert redis_client.exists(f"eddy:{namespace}:model:lr:seq")
    # events whose publish failed go back in front of newer ones
    reg.requeue_events(events[:2])
    reg.save("lr", models[0], {}, now_ms=2000)
    assert [(e["version"], e["ts"]) for e in reg.drain_events()] == [(1, 1000), (2, 1001), (4, 2000)]


def test_rollback_creates_a_new_version_with_the_old_content(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace)
    old, new = trained(10), trained(300)
    reg.save("lr", old, {"offsets": {"0": 10}}, now_ms=1, role="champion")
    reg.save("lr", new, {"offsets": {"0": 300}}, now_ms=2)
    reg.drain_events()
    v = reg.rollback("lr", 1, now_ms=3)
    assert v == 3 and reg.current_version("lr") == 3
    assert score(reg.load("lr")) == score(old) != score(new)
    snap = reg.snapshot("lr")
    assert snap.source_version == 1 and snap.action == "rollback"
    assert snap.meta == {"offsets": {"0": 300}}  # the learner's position moves forward, never back
    (event,) = reg.drain_events()
    assert (event["action"], event["version"], event["ts"]) == ("rollback", 3, 3)
    assert "v1" in event["detail"]
    listed = [(i.version, i.action, i.current, i.source_version) for i in reg.list()]
    assert listed == [(1, "created", False, None), (2, "snapshot", False, None), (3, "rollback", True, 1)]
    with pytest.raises(VersionNotFound, match=r"pick one of \[1, 2, 3\]"):
        reg.rollback("lr", 9, now_ms=4)


def test_promote_swaps_roles_and_emits_promote_and_demote(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace)
    reg.save("lr", trained(10), now_ms=1, role="champion")
    reg.save("tree", trained(20), now_ms=1, role="challenger")
    reg.save("tree", trained(30), now_ms=2)
    reg.drain_events()
    assert reg.promote("tree", now_ms=5) == "lr"
    assert reg.roles() == {"lr": "challenger", "tree": "champion"}
    events = reg.drain_events()
    assert [(e["model"], e["action"], e["version"], e["ts"]) for e in events] == [
        ("tree", "promote", 2, 5), ("lr", "demote", 1, 5)
    ]
    assert reg.promote("tree", now_ms=6) is None and reg.drain_events() == []
    with pytest.raises(VersionNotFound, match="known models are lr, tree"):
        reg.promote("nope", now_ms=7)
    assert {(i.name, i.role) for i in reg.list()} == {("lr", "challenger"), ("tree", "champion")}


def test_the_baseline_is_never_promoted(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace)
    reg.save("lr", trained(10), now_ms=1, role="champion")
    reg.save("tree", trained(20), now_ms=1, role="challenger")
    reg.save("baseline", trained(5), now_ms=1, role="baseline")
    reg.drain_events()
    with pytest.raises(RegistryError, match="'baseline' is the baseline, which is never promoted: promote a challenger \\(tree\\)"):
        reg.promote("baseline", now_ms=2)
    assert reg.roles() == {"lr": "champion", "tree": "challenger", "baseline": "baseline"}
    assert reg.drain_events() == []


def test_on_event_callback_receives_events(redis_client, namespace):
    seen: list[dict] = []
    reg = ModelRegistry(redis_client, namespace, on_event=seen.append)
    reg.save("lr", trained(5), now_ms=9, role="champion")
    assert seen == [{"model": "lr", "version": 1, "action": "created", "ts": 9, "detail": "created v1"}]
    assert reg.drain_events() == []


def test_keep_prunes_old_versions_but_versions_keep_growing(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace, keep=2)
    for i in range(5):
        reg.save("lr", trained(5 + i), now_ms=i, role="champion")
    assert [i.version for i in reg.list()] == [4, 5]
    with pytest.raises(VersionNotFound):
        reg.load("lr", 1)


def test_the_first_version_of_each_period_is_kept_for_keep_for(redis_client, namespace):
    """A learner saves a version per checkpoint (1 s): the last `keep` alone reach back seconds.
    The first version of every `keep_every_ms` stays for `keep_for_ms` too: a rollback to an hour
    ago, and the snapshot a score of then names."""
    reg = ModelRegistry(redis_client, namespace, keep=3, keep_every_ms=10_000, keep_for_ms=50_000)
    model = trained(20)
    for i in range(100):  # version i + 1 at i s
        reg.save("m", model, now_ms=i * 1_000)
    kept = [v.version for v in reg.list()]
    assert kept == [51, 61, 71, 81, 91, 98, 99, 100]  # 10 s periods from 50 s on, and the last 3
    assert reg.snapshot("m", 61).created_ms == 60_000
    assert score(reg.load("m", reg.rollback("m", 61, now_ms=100_000))) == score(model)
    with pytest.raises(VersionNotFound):
        reg.load("m", 41)  # its period is older than keep_for
    for i in range(100, 160):  # once a minute: each version is its period's first, kept for 50 s
        reg.save("m", model, now_ms=i * 60_000)
    assert [v.version for v in reg.list()] == [159, 160, 161]


def test_compare_and_set_refuses_to_overwrite_a_rollback(redis_client, namespace):
    config = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"})
    learner_set = ModelSet(config)
    reg = ModelRegistry(redis_client, namespace)
    assert save_checkpoint(reg, learner_set, {"seq": 1}, now_ms=1) == {"lr": 1, "baseline": 1}
    for x, y in make_stream("binary", 50):
        learner_set.learn_one(x, y)
    assert save_checkpoint(reg, learner_set, {"seq": 2}, now_ms=2) == {"lr": 2, "baseline": 2}
    reg.rollback("lr", 1, now_ms=3)  # e.g. `eddy models rollback lr 1` from another process
    with pytest.raises(RegistryConflict, match="refresh"):
        save_checkpoint(reg, learner_set, {"seq": 3}, now_ms=4)
    assert reg.current_version("baseline") == 2  # the checkpoint is all or nothing
    loaded = refresh(reg, learner_set)
    assert set(loaded) == {"lr"} and learner_set.versions == {"lr": 3, "baseline": 2}
    assert save_checkpoint(reg, learner_set, {"seq": 3}, now_ms=5) == {"lr": 4, "baseline": 3}


def test_scorer_refresh_hot_swaps_changed_models_and_roles(redis_client, namespace):
    config = ModelsConfig(
        task="binary",
        champion={"name": "lr", "model": "logreg"},
        challengers=[{"name": "nb", "model": "gaussian_nb"}],
    )
    learner_set, scorer_set = ModelSet(config), ModelSet(config)
    reg = ModelRegistry(redis_client, namespace)
    stream = make_stream("binary", 100)
    for x, y in stream:
        learner_set.learn_one(x, y)
    save_checkpoint(reg, learner_set, now_ms=1)
    assert refresh(reg, scorer_set).keys() == {"lr", "nb", "baseline"}
    probe = [x for x, _ in stream[:20]]
    assert scorer_set.predict_many(probe) == learner_set.predict_many(probe)
    assert refresh(reg, scorer_set) == {}  # nothing changed: nothing loaded
    reg.promote("nb", now_ms=2)
    refresh(reg, scorer_set)
    assert scorer_set.champion_name == "nb"


def test_refresh_steps_swap_one_model_per_step_and_keep_a_newer_swap(redis_client, namespace):
    """The worker lets a batch run between two loads (`refresh_steps`): each step swaps one
    model; a version another refresh swapped in meanwhile is not overwritten with the older head."""
    config = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"},
                          challengers=[{"name": "nb", "model": "gaussian_nb"}])
    learner_set, served = ModelSet(config), ModelSet(config)
    reg = ModelRegistry(redis_client, namespace)
    stream = make_stream("binary", 60)
    for x, y in stream[:30]:
        learner_set.learn_one(x, y)
    v1 = save_checkpoint(reg, learner_set, now_ms=1)
    steps = refresh_steps(reg, served)
    first = next(steps)  # heads read, one model loaded
    assert served.versions[first.name] == v1[first.name]
    assert [n for n in served.names if served.versions[n]] == [first.name]
    for x, y in stream[30:]:
        learner_set.learn_one(x, y)
    v2 = save_checkpoint(reg, learner_set, now_ms=2)
    assert refresh(reg, served).keys() == set(served.names)  # a timer's refresh, meanwhile
    assert [s.name for s in steps] == []  # the rest of the steps: every model is newer already
    assert served.versions == v2


def test_refresh_steps_load_the_newer_head_when_theirs_was_pruned_meanwhile(redis_client, namespace):
    """With `keep_last: 1` a save between two steps prunes the head the steps read first: the step
    reads that model's head again instead of failing the hot-swap (it retried a tick later)."""
    config = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"},
                          challengers=[{"name": "nb", "model": "gaussian_nb"}])
    learner_set, served = ModelSet(config), ModelSet(config)
    reg = ModelRegistry(redis_client, namespace, keep=1)
    stream = make_stream("binary", 60)
    for x, y in stream[:30]:
        learner_set.learn_one(x, y)
    save_checkpoint(reg, learner_set, now_ms=1)
    steps = refresh_steps(reg, served)
    next(steps)  # heads read (v1), one model loaded
    for x, y in stream[30:]:
        learner_set.learn_one(x, y)
    v2 = save_checkpoint(reg, learner_set, now_ms=2)  # prunes v1 of both
    rest = list(steps)
    assert [(s.name, s.version) for s in rest] == [("nb", 2), ("baseline", 2)]  # (lr, swapped first, stays)
    assert served.versions == {**v2, "lr": 1}


def test_a_hot_swap_skips_the_bookkeeping_a_restore_reads(redis_client, namespace):
    """A learner's meta (pending labels, learned ids) can be megabytes: a hot-swap loads the
    model and the info fields without parsing it; a restore gets it whole."""
    config = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"})
    learned, served = ModelSet(config), ModelSet(config)
    reg = ModelRegistry(redis_client, namespace)
    meta = {"seq": 3, "pending": [[f"e{i}", {"label": 1, "note": 'say "meta": here'}, i] for i in range(500)]}
    save_checkpoint(reg, learned, meta, now_ms=7)
    loaded = refresh(reg, served)
    assert {n: (s.meta, s.created_ms, s.action) for n, s in loaded.items()} == {
        "lr": ({}, 7, "created"), "baseline": ({}, 7, "created")}
    assert restore(reg, ModelSet(config)) == meta
    assert reg.snapshot("lr", with_meta=False).meta == {}
    assert reg.snapshot("lr").meta == meta


def test_restart_resumes_models_and_bookkeeping(redis_client, namespace):
    """A learner restarted mid-stream continues from the checkpoint: same predictions, versions
    continue, labels after the checkpoint offset are learned once."""
    config = ModelsConfig(
        task="binary",
        champion={"name": "lr", "model": "logreg"},
        challengers=[{"name": "arf", "model": "arf", "params": {"n_models": 3}}],
    )
    stream = make_stream("binary", 400, seed=4)
    labels = [{"event_id": f"e{i}", "label": y, "ts": i} for i, (_, y) in enumerate(stream)]
    snapshots = {f"e{i}": {"x": x} for i, (x, _) in enumerate(stream)}

    def feed(learner: Learner, start: int, stop: int) -> None:
        for offset in range(start, stop):
            label = labels[offset]
            learner.learn(label, snapshots[label["event_id"]], now_ms=offset, partition=0, offset=offset)

    # the reference: one learner that never stops
    ref = Learner(ModelSet(config), JoinConfig())
    feed(ref, 0, 400)

    reg = ModelRegistry(redis_client, namespace)
    first = Learner(ModelSet(config), JoinConfig())
    feed(first, 0, 250)
    save_checkpoint(reg, first.model_set, first.state(), now_ms=250)
    feed(first, 250, 260)  # learned after the checkpoint, then the worker dies: lost with it

    second = Learner(ModelSet(config), JoinConfig())
    meta = restore(reg, second.model_set)
    assert meta is not None
    second.load_state(meta)
    assert second.offsets == {0: 250}
    assert second.model_set.versions == {"lr": 1, "arf": 1, "baseline": 1}
    feed(second, second.offsets[0], 400)  # the consumer seeks to the stored offsets
    # a redelivered label from before the checkpoint is recognized
    assert second.learn(labels[10], snapshots["e10"], now_ms=401).status == "duplicate"
    probe = [x for x, _ in make_stream("binary", 30, seed=99)]
    assert second.model_set.predict_many(probe) == ref.model_set.predict_many(probe)
    assert second.counts["learned"] == ref.counts["learned"] == 400
    assert save_checkpoint(reg, second.model_set, second.state(), now_ms=402) == {"lr": 2, "arf": 2, "baseline": 2}


def test_snapshot_of_an_unknown_model_says_what_to_do(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace)
    with pytest.raises(VersionNotFound, match="start the learner once"):
        reg.load("ghost")


def test_purge_removes_the_namespace(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace)
    reg.save("lr", trained(5), now_ms=1, role="champion")
    assert reg.purge() >= 5
    assert reg.list() == [] and reg.current_version("lr") == 0


def test_checkpoint_actions_name_a_reset(redis_client, namespace):
    config = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"})
    model_set = ModelSet(config)
    reg = ModelRegistry(redis_client, namespace)
    save_checkpoint(reg, model_set, now_ms=1)
    model_set.reset("lr")
    save_checkpoint(reg, model_set, now_ms=2, actions={"lr": "reset"})
    events = [(e["model"], e["version"], e["action"]) for e in reg.drain_events()]
    assert events == [("lr", 1, "created"), ("baseline", 1, "created"), ("lr", 2, "reset"), ("baseline", 2, "snapshot")]
    assert reg.snapshot("lr").action == "reset"


def test_save_without_now_uses_the_redis_server_clock(redis_client, namespace):
    reg = ModelRegistry(redis_client, namespace)
    reg.save("lr", trained(5), role="champion")
    seconds, _ = redis_client.time()
    assert abs(reg.snapshot("lr").created_ms - seconds * 1000) < 5_000
