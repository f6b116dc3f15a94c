"""Building models: catalog names, import paths (no eval), clear errors, seeds."""

from __future__ import annotations

import pytest
from river import optim

from learners import CATALOG, ModelSpec, ModelSpecError, build_model


def spec(model: str, **params) -> ModelSpec:
    return ModelSpec(name="m", model=model, params=params)


def test_unknown_catalog_name_lists_the_known_ones():
    with pytest.raises(ModelSpecError) as info:
        build_model(spec("xgboost"), "binary")
    for name in CATALOG:
        assert name in str(info.value)


def test_catalog_model_for_the_wrong_task_names_the_fitting_ones():
    with pytest.raises(ModelSpecError, match="for regression pick one of hoeffding_tree_regressor, linear_regression"):
        build_model(spec("logreg"), "regression")


def test_logreg_is_binary_only():
    with pytest.raises(ModelSpecError, match="not 'multiclass'"):
        build_model(spec("logreg"), "multiclass")


def test_unknown_params_list_the_accepted_ones():
    with pytest.raises(ModelSpecError, match=r"does not accept learning_rate: accepted params are optimizer, loss, l2"):
        build_model(spec("logreg", learning_rate=0.1), "binary")


def test_lr_shorthand_builds_an_sgd_optimizer():
    model = build_model(spec("logreg", lr=0.05), "binary")
    optimizer = model["LogisticRegression"].optimizer
    assert isinstance(optimizer, optim.SGD) and optimizer.learning_rate == 0.05
    with pytest.raises(ModelSpecError, match="no optimizer"):
        build_model(spec("arf", lr=0.1), "binary")


def test_seeded_catalog_models_get_the_pipeline_seed_unless_params_set_it():
    assert build_model(spec("arf"), "binary", seed=7).seed == 7
    assert build_model(spec("arf", seed=3), "binary", seed=7).seed == 3
    assert build_model(spec("halfspace_trees"), "anomaly", seed=5)["HalfSpaceTrees"].seed == 5
    assert build_model(spec("funk_mf"), "recommendation", seed=9).seed == 9


def test_river_class_through_an_import_path():
    model = build_model(spec("river.tree:HoeffdingTreeClassifier", grace_period=20), "multiclass")
    assert type(model).__name__ == "HoeffdingTreeClassifier" and model.grace_period == 20


def test_factory_through_an_import_path_gets_params_and_seed():
    model = build_model(spec("tests.learners.factories:seeded_tree", grace_period=10), "binary", seed=11)
    assert model.eddy_seed == 11 and model.grace_period == 10
    model = build_model(spec("tests.learners.factories:scaled_logreg", lr=0.2), "binary", seed=11)
    assert model["LogisticRegression"].optimizer.learning_rate == 0.2


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("no_such_pkg.mod:factory", {}, "cannot import module 'no_such_pkg.mod'"),
        ("tests.learners.factories:missing", {}, "has no attribute 'missing'"),
        ("tests.learners.factories:NOT_CALLABLE", {}, "is not callable"),
        ("tests.learners.factories:scaled_logreg", {"alpha": 1}, r"does not accept params \['alpha'\]: accepted are lr, l2"),
        ("tests.learners.factories:a_regressor", {}, "not a classifier"),
    ],
)
def test_import_path_errors_say_what_to_do(path, params, message):
    with pytest.raises(ModelSpecError, match=message):
        build_model(ModelSpec(name="m", model=path, params=params), "binary")


def test_rejected_param_values_are_wrapped():
    with pytest.raises(ModelSpecError, match="rejected params") as info:
        build_model(spec("arf", n_models="x"), "binary")
    assert info.value.__cause__ is not None
