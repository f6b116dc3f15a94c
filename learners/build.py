"""Build a River estimator from a `ModelSpec`: catalog name or ``package.module:factory``.

Import paths are resolved with `importlib` and `getattr`, never `eval`. The factory is called with
the spec's params, plus ``seed=<pipeline seed>`` when it accepts a ``seed`` argument and params do
not set one. The result must suit the task (a classifier for binary/multiclass, a regressor, an
anomaly detector, a `reco` ranker).

>>> from learners.config import ModelSpec
>>> m = build_model(ModelSpec(name="t", model="river.tree:HoeffdingTreeClassifier",
...                           params={"grace_period": 50}), "binary", seed=1)
>>> type(m).__name__, m.grace_period
('HoeffdingTreeClassifier', 50)
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from river import base, reco

from learners.catalog import CATALOG, build_catalog_model
from learners.config import DEFAULT_SEED, ModelSpec
from learners.exceptions import ModelSpecError


def resolve_import_path(path: str) -> Any:
    """Return the object named by ``package.module:attr[.attr]`` (no eval)."""
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise ModelSpecError(f"import path {path!r} is malformed: write 'package.module:factory'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSpecError(
            f"cannot import module {module_name!r} of {path!r}: install it or fix the path ({exc})"
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ModelSpecError(
                f"{path!r}: {module_name!r} has no attribute {attr_path!r}: check the factory name"
            ) from exc
    if not callable(obj):
        raise ModelSpecError(f"{path!r} is not callable: point at a factory function or a class")
    return obj


def _call_factory(path: str, params: dict[str, Any], seed: int | None) -> Any:
    factory = resolve_import_path(path)
    kwargs = dict(params)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        signature = None
    if signature is not None:
        names = signature.parameters
        takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in names.values())
        if "seed" in names and "seed" not in kwargs:
            kwargs["seed"] = seed
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            accepted = [n for n, p in names.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
            raise ModelSpecError(
                f"factory {path!r} does not accept params {sorted(params)}: accepted are "
                f"{', '.join(accepted) or '(none)'}{' and **kwargs' if takes_var_kw else ''} ({exc})"
            ) from exc
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"factory {path!r} failed with params {params!r}: {exc}") from exc


def check_task(model: Any, task: str, label: str) -> None:
    """Raise `ModelSpecError` unless `model` can serve `task`."""
    if task in ("binary", "multiclass"):
        ok = isinstance(model, base.Classifier)
        if ok and task == "multiclass" and not getattr(model, "_multiclass", False):
            raise ModelSpecError(
                f"{label} is a binary-only classifier: pick a multiclass model "
                "(hoeffding_tree, arf, gaussian_nb) or wrap it in multiclass.OneVsRestClassifier"
            )
        kind = "a classifier"
    elif task == "regression":
        ok, kind = isinstance(model, base.Regressor), "a regressor"
    elif task == "anomaly":
        ok, kind = isinstance(model, base.AnomalyDetector), "an anomaly detector"
    elif task == "recommendation":
        ok, kind = isinstance(model, reco.base.Ranker), "a river.reco ranker"
    else:
        raise ModelSpecError(
            f"unknown task {task!r}: use binary, multiclass, regression, anomaly or recommendation"
        )
    if not ok:
        raise ModelSpecError(f"{label} built {type(model).__name__}, which is not {kind} as task {task!r} needs")


def build_model(spec: ModelSpec, task: str, seed: int = DEFAULT_SEED) -> Any:
    """Build the estimator of `spec` for `task`, seeded with `seed` where it takes one."""
    label = f"model {spec.name!r} ({spec.model})"
    if spec.is_import_path:
        model = _call_factory(spec.model, spec.params, seed)
    else:
        entry = CATALOG.get(spec.model)
        if entry is not None and task not in entry.tasks:
            fitting = sorted(n for n, e in CATALOG.items() if task in e.tasks)
            raise ModelSpecError(
                f"{label} serves {', '.join(entry.tasks)}, not {task!r}: for {task} pick one of "
                f"{', '.join(fitting)}"
            )
        model = build_catalog_model(spec.model, spec.params, seed)
    check_task(model, task, label)
    return model
