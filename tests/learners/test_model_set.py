"""ModelSet: roles, promote, reset, swap, set_roles, metrics from served predictions."""

from __future__ import annotations

import pickle

import pytest

from learners import LearnersError, ModelsConfig, ModelSet, Prediction

from .streams import make_stream


def binary_set(**extra) -> ModelSet:
    return ModelSet(
        ModelsConfig(
            task="binary",
            champion={"name": "lr", "model": "logreg"},
            challengers=[{"name": "tree", "model": "hoeffding_tree"}],
            **extra,
        )
    )


def test_names_roles_and_versions():
    ms = binary_set()
    assert ms.names == ["lr", "tree", "baseline"]
    assert ms.roles == {"lr": "champion", "tree": "challenger", "baseline": "baseline"}
    assert ms.versions == {"lr": 0, "tree": 0, "baseline": 0}
    assert binary_set(baseline=False).names == ["lr", "tree"]


def test_predict_many_equals_predict_one_per_input_and_keeps_order():
    ms = binary_set()
    for x, y in make_stream("binary", 200):
        ms.learn_one(x, y)
    xs = [x for x, _ in make_stream("binary", 30, seed=9)]
    many = ms.predict_many(xs)
    assert list(many) == ms.names
    assert [{n: many[n][i] for n in ms.names} for i in range(len(xs))] == [ms.predict_one(x) for x in xs]


def test_multiclass_predict_many_full_carries_labels():
    ms = ModelSet(ModelsConfig(task="multiclass", champion={"name": "t", "model": "hoeffding_tree"}))
    for x, y in make_stream("multiclass", 300):
        ms.learn_one(x, y)
    full = ms.predict_many_full([x for x, _ in make_stream("multiclass", 10, seed=4)])
    assert all(p.label in {"0", "1", "2"} for p in full["t"])
    assert all(isinstance(p, Prediction) for p in full["baseline"])


def test_promote_swaps_roles_and_reset_rebuilds():
    ms = binary_set()
    for x, y in make_stream("binary", 200):
        ms.learn_one(x, y, served=ms.predict_one(x))
    assert ms.promote("tree") == "lr" and ms.champion_name == "tree"
    assert ms.roles["lr"] == "challenger"
    assert ms.promote("tree") == "tree"  # already champion: no change
    probe = {"a": 0.5, "b": 0.1, "c": 1.0}
    trained = ms.predict_one(probe)["lr"]
    ms.reset("lr")
    assert ms.predict_one(probe)["lr"] == 0.5 != trained
    assert ms.metrics()["lr"]["n"] == 0 and ms.metrics()["tree"]["n"] == 200
    ms.reset("baseline")
    assert ms.predict_one(probe)["baseline"] == 0.0
    with pytest.raises(LearnersError, match="never promoted"):
        ms.promote("baseline")
    with pytest.raises(LearnersError, match="known models are lr, tree, baseline"):
        ms.promote("nope")


def test_set_roles_needs_exactly_one_champion():
    ms = binary_set()
    ms.set_roles({"tree": "champion", "lr": "challenger", "someone_else": "champion"})
    assert ms.champion_name == "tree"
    with pytest.raises(LearnersError, match="2 champions"):
        ms.set_roles({"lr": "champion"})
    with pytest.raises(LearnersError, match="unknown role"):
        ms.set_roles({"lr": "boss"})


def test_swap_installs_a_snapshot_and_checks_its_task():
    ms, other = binary_set(), binary_set()
    for x, y in make_stream("binary", 100):
        other.learn_one(x, y)
    ms.swap("lr", pickle.loads(pickle.dumps(other.model("lr"))), version=7)
    probe = {"a": 0.5, "b": 0.1, "c": 1.0}
    assert ms.predict_one(probe)["lr"] == other.predict_one(probe)["lr"] and ms.versions["lr"] == 7
    reg = ModelSet(ModelsConfig(task="regression", champion={"name": "r", "model": "linear_regression"}))
    with pytest.raises(LearnersError, match="not a classifier"):
        ms.swap("lr", reg.model("r"), version=8)


def test_metrics_follow_the_served_predictions():
    ms = binary_set()
    ms.learn_one({"a": 1.0}, 1.0, served={"lr": 0.9, "tree": 0.2, "ghost": 0.5})
    ms.learn_one({"a": 1.0}, 0.0, served={"lr": 0.1, "tree": 0.8})
    m = ms.metrics()
    assert m["lr"]["accuracy"] == 1.0 and m["tree"]["accuracy"] == 0.0
    assert m["lr"]["roc_auc"] > m["tree"]["roc_auc"]
    reg = ModelSet(ModelsConfig(task="regression", champion={"name": "r", "model": "linear_regression"}))
    reg.learn_one({"a": 1.0}, 3.0, served={"r": 1.0})
    assert reg.metrics()["r"]["mae"] == 2.0
