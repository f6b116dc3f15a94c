"""Prediction, label and loss conventions (learners.predict), the same for every caller."""

from __future__ import annotations

import math

import pytest
from river import dummy, linear_model, reco, tree

from learners import ModelInputError, Prediction, learn, loss, normalize_label, predict
from learners.baselines import ItemMeanRanker


class FakeProbaModel:
    """A fake classifier returning a fixed probability dict (unit test only)."""

    def __init__(self, proba: dict):
        self.proba = proba
        self.calls = 0

    def predict_proba_one(self, x):
        self.calls += 1
        return self.proba


@pytest.mark.parametrize(
    ("label", "expected"),
    [(1.0, True), (0.0, False), (-0.0, False), (0.3, True), (-2.0, True), (True, True), (False, False)],
)
def test_binary_labels_are_label_not_zero(label, expected):
    assert normalize_label("binary", label) is expected


def test_multiclass_labels_are_class_name_strings():
    assert normalize_label("multiclass", 2.0) == "2"
    assert normalize_label("multiclass", 0.5) == "0.5"
    assert normalize_label("multiclass", "cat") == "cat"
    assert normalize_label("multiclass", True) == "1"
    assert normalize_label("multiclass", normalize_label("multiclass", 3.0)) == "3"


def test_numeric_labels_and_errors():
    assert normalize_label("regression", 3) == 3.0
    assert normalize_label("recommendation", True) == 1.0
    with pytest.raises(ModelInputError, match="null"):
        normalize_label("binary", None)
    with pytest.raises(ModelInputError, match="not a number"):
        normalize_label("regression", "abc")
    with pytest.raises(ModelInputError, match="string"):
        normalize_label("binary", "yes")


def test_binary_score_is_p_true_and_missing_key_is_zero():
    assert predict("binary", FakeProbaModel({True: 0.7, False: 0.3}), {}) == Prediction(0.7)
    assert predict("binary", FakeProbaModel({False: 1.0}), {}) == Prediction(0.0)
    assert predict("binary", FakeProbaModel({}), {}) == Prediction(0.0)
    assert predict("binary", dummy.PriorClassifier(), {"a": 1.0}) == Prediction(0.0)


def test_binary_score_is_exactly_river_proba():
    model = linear_model.LogisticRegression()
    for i in range(20):
        model.learn_one({"a": float(i)}, i % 3 == 0)
    assert predict("binary", model, {"a": 4.0}).score == model.predict_proba_one({"a": 4.0})[True]


def test_multiclass_is_max_proba_and_class_as_str():
    fake = FakeProbaModel({"0": 0.2, "1": 0.5, "2": 0.3})
    assert predict("multiclass", fake, {}) == Prediction(0.5, "1")
    assert fake.calls == 1  # one call per prediction
    assert predict("multiclass", FakeProbaModel({}), {}) == Prediction(0.0, None)
    assert predict("multiclass", FakeProbaModel({1: 0.5, 2: 0.5}), {}) == Prediction(0.5, "1")  # River's tie-break
    model = tree.HoeffdingTreeClassifier()
    model.learn_one({"a": 1.0}, "x")
    assert predict("multiclass", model, {"a": 1.0}).label == model.predict_one({"a": 1.0})


def test_regression_anomaly_and_recommendation():
    reg = dummy.StatisticRegressor(__import__("river").stats.Mean())
    reg.learn_one({}, 4.0)
    assert predict("regression", reg, {}) == Prediction(4.0)
    ranker = reco.FunkMF(seed=1)
    twin = reco.FunkMF(seed=1)
    x = {"user": "u", "item": "i", "hour": 3.0}
    learn("recommendation", ranker, x, 1.0)
    twin.learn_one(user="u", item="i", y=1.0)
    assert predict("recommendation", ranker, x).score == twin.predict_one("u", "i")
    with pytest.raises(ModelInputError, match="'item'"):
        predict("recommendation", ItemMeanRanker(), {"user": "u"})


def test_losses():
    assert loss("binary", True, 1.0) == pytest.approx(-math.log(1 - 1e-15))
    assert loss("binary", True, 0.0) == pytest.approx(-math.log(1e-15))
    assert loss("binary", False, Prediction(0.25)) == pytest.approx(-math.log(0.75))
    assert loss("multiclass", "1", Prediction(0.9, "1")) == 0.0
    assert loss("multiclass", "2", Prediction(0.9, "1")) == 1.0
    assert loss("regression", 1.0, -1.5) == 2.5
    assert loss("recommendation", 1.0, 0.25) == 0.75
    assert loss("anomaly", 1.0, 0.9) is None
