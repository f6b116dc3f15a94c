"""The catalog: River's common models under short names, plus one trivial baseline per task.

Each entry builds its model exactly as plain River code would (same constructor, same
arguments), so a run with Eddy reproduces ``river.evaluate.progressive_val_score``. Params are
the River constructor's keyword arguments; ``lr`` is accepted as a YAML-friendly shorthand for
``optimizer=optim.SGD(lr)`` where the model has an optimizer. Entries marked seeded get the
pipeline seed unless params set ``seed``.

>>> sorted(CATALOG)[:3]
['arf', 'biased_mf', 'funk_mf']
>>> list(build_catalog_model("logreg", {"l2": 0.0}, seed=42).steps)
['StandardScaler', 'LogisticRegression']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from river import anomaly, dummy, forest, linear_model, naive_bayes, optim, preprocessing, reco, stats, tree

from learners.baselines import ConstantScorer, ItemMeanRanker
from learners.exceptions import ModelSpecError


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog model: the River class it wraps, the tasks it serves, how to build it."""

    name: str
    river_class: type
    tasks: tuple[str, ...]
    seeded: bool
    description: str
    build: Callable[[dict[str, Any]], Any]
    optimizer_param: str | None = None


def _scaled(scaler_cls: type, model_cls: type) -> Callable[[dict[str, Any]], Any]:
    def build(params: dict[str, Any]) -> Any:
        return scaler_cls() | model_cls(**params)

    return build


def _plain(model_cls: type) -> Callable[[dict[str, Any]], Any]:
    def build(params: dict[str, Any]) -> Any:
        return model_cls(**params)

    return build


_CLASSIF = ("binary", "multiclass")

CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in [
        CatalogEntry(
            "logreg", linear_model.LogisticRegression, ("binary",), False,
            "preprocessing.StandardScaler() | linear_model.LogisticRegression(**params)",
            _scaled(preprocessing.StandardScaler, linear_model.LogisticRegression), "optimizer",
        ),
        CatalogEntry(
            "hoeffding_tree", tree.HoeffdingTreeClassifier, _CLASSIF, False,
            "tree.HoeffdingTreeClassifier(**params)", _plain(tree.HoeffdingTreeClassifier),
        ),
        CatalogEntry(
            "arf", forest.ARFClassifier, _CLASSIF, True,
            "forest.ARFClassifier(seed=seed, **params)", _plain(forest.ARFClassifier),
        ),
        CatalogEntry(
            "gaussian_nb", naive_bayes.GaussianNB, _CLASSIF, False,
            "naive_bayes.GaussianNB()", _plain(naive_bayes.GaussianNB),
        ),
        CatalogEntry(
            "linear_regression", linear_model.LinearRegression, ("regression",), False,
            "preprocessing.StandardScaler() | linear_model.LinearRegression(**params)",
            _scaled(preprocessing.StandardScaler, linear_model.LinearRegression), "optimizer",
        ),
        CatalogEntry(
            "hoeffding_tree_regressor", tree.HoeffdingTreeRegressor, ("regression",), False,
            "tree.HoeffdingTreeRegressor(**params)", _plain(tree.HoeffdingTreeRegressor),
        ),
        CatalogEntry(
            "halfspace_trees", anomaly.HalfSpaceTrees, ("anomaly",), True,
            "preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=seed, **params)",
            _scaled(preprocessing.MinMaxScaler, anomaly.HalfSpaceTrees),
        ),
        CatalogEntry(
            "funk_mf", reco.FunkMF, ("recommendation",), True,
            "reco.FunkMF(seed=seed, **params); x carries 'user' and 'item'",
            _plain(reco.FunkMF), "optimizer",
        ),
        CatalogEntry(
            "biased_mf", reco.BiasedMF, ("recommendation",), True,
            "reco.BiasedMF(seed=seed, **params); x carries 'user' and 'item'",
            _plain(reco.BiasedMF), "latent_optimizer",
        ),
    ]
}


def _accepted(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]


def build_catalog_model(name: str, params: Mapping[str, Any], seed: int | None) -> Any:
    """Build catalog model `name` with `params` (and `seed` when the model is seeded)."""
    entry = CATALOG.get(name)
    if entry is None:
        raise ModelSpecError(
            f"unknown catalog model {name!r}: pick one of {', '.join(sorted(CATALOG))} "
            "or give an import path 'package.module:factory'"
        )
    kwargs = dict(params)
    if "lr" in kwargs:
        if entry.optimizer_param is None:
            raise ModelSpecError(f"catalog model {name!r} has no optimizer: remove param 'lr'")
        if entry.optimizer_param in kwargs:
            raise ModelSpecError(
                f"catalog model {name!r}: give either 'lr' or {entry.optimizer_param!r}, not both"
            )
        kwargs[entry.optimizer_param] = optim.SGD(kwargs.pop("lr"))
    accepted = _accepted(entry.river_class)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        extra = entry.optimizer_param is not None
        raise ModelSpecError(
            f"catalog model {name!r} does not accept {', '.join(unknown)}: "
            f"accepted params are {', '.join(accepted + (['lr'] if extra else [])) or '(none)'}"
        )
    if entry.seeded and "seed" not in kwargs:
        kwargs["seed"] = seed
    try:
        return entry.build(kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"catalog model {name!r} rejected params {params!r}: {exc}") from exc


def baseline_for(task: str) -> Any:
    """The trivial baseline of `task`: prior, running mean, constant score or item popularity.

    >>> type(baseline_for("binary")).__name__, type(baseline_for("regression")).__name__
    ('PriorClassifier', 'StatisticRegressor')
    """
    if task in _CLASSIF:
        return dummy.PriorClassifier()
    if task == "regression":
        return dummy.StatisticRegressor(stats.Mean())
    if task == "anomaly":
        return ConstantScorer(0.0)
    if task == "recommendation":
        return ItemMeanRanker()
    raise ModelSpecError(f"unknown task {task!r}: use binary, multiclass, regression, anomaly or recommendation")
