"""Factories reachable through import paths in tests (``tests.learners.factories:...``)."""

from __future__ import annotations

from river import linear_model, optim, preprocessing, tree

NOT_CALLABLE = 42


def scaled_logreg(lr: float = 0.01, l2: float = 0.0):
    """A factory without a seed argument."""
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(optim.SGD(lr), l2=l2)


def seeded_tree(seed: int | None = None, grace_period: int = 50):
    """A factory that takes a seed: records it on the model for the test to see."""
    model = tree.HoeffdingTreeClassifier(grace_period=grace_period)
    model.eddy_seed = seed
    return model


def a_regressor():
    """Not a classifier: building it for a binary task must fail."""
    return linear_model.LinearRegression()
