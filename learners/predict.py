"""Prediction, learning and loss conventions, identical for every model and every caller.

=============== ====================================== =========================================
task            served prediction (``score``)          label (arrives as a double)
=============== ====================================== =========================================
binary          P(y=True) = ``predict_proba_one(x)``   ``bool(label != 0)``
                ``.get(True, 0.0)`` (no key: 0.0)
multiclass      max probability, and the class as str  class name ``str``: 2.0 -> ``"2"``
                (empty proba: 0.0 and ``None``)
regression      ``predict_one(x)`` (None -> 0.0)       ``float(label)``
anomaly         ``score_one(x)``                       ``float(label)`` (metrics only)
recommendation  ``predict_one(user, item, x)``          ``float(label)`` (click: 1.0 / 0.0)
=============== ====================================== =========================================

For recommendation, ``x`` carries the ``user`` and ``item`` keys; the whole dict is passed as the
context ``x``. Each function calls the model exactly once, with the dict exactly as given.
Scores are converted with ``float()``, which never changes a float's value (an int 0 -> 0.0).

>>> from river import linear_model
>>> model = linear_model.LogisticRegression()
>>> predict("binary", model, {"a": 1.0})
Prediction(score=0.5, label=None)
>>> learn("binary", model, {"a": 1.0}, normalize_label("binary", 1.0))
>>> round(predict("binary", model, {"a": 1.0}).score, 4)
0.5025
>>> normalize_label("binary", 0.0), normalize_label("multiclass", 2.0)
(False, '2')
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from learners.exceptions import ModelInputError

_EPS = 1e-15  # River's probability clamp for the log loss


class Prediction(NamedTuple):
    """A served prediction: the number, and the predicted class for multiclass."""

    score: float
    label: str | None = None


def normalize_label(task: str, label: Any) -> Any:
    """Turn a raw label (a double on the labels topic) into the target the models learn.

    Idempotent: normalizing an already normalized label returns it unchanged.
    """
    if label is None:
        raise ModelInputError("label is null: send a number (binary: 0/1, regression: a value)")
    if task == "binary":
        if isinstance(label, str):
            raise ModelInputError(f"binary label {label!r} is a string: send 0/1 or true/false")
        return bool(label != 0)
    if task == "multiclass":
        if isinstance(label, bool):
            return str(int(label))
        if isinstance(label, float):
            if math.isfinite(label) and label.is_integer():
                return str(int(label))
            return repr(label)
        return str(label)
    try:
        value = float(label)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"{task} label {label!r} is not a number: send a double") from exc
    return value


def label_problem(task: str, label: Any) -> str | None:
    """Why `label` cannot be learned under `task` (None: it can): the reason of its dead letter.

    A binary or anomaly label is 0 or 1 (or a bool): the models and metrics read ``label != 0``
    and analytics ``label >= 0.5``, which agree only there (sklearn's -1 for an outlier would be
    an anomaly to one and normal to the other). Every numeric label is finite.

    >>> label_problem("binary", 1.0), label_problem("anomaly", -1), label_problem("regression", float("nan"))
    (None, 'anomaly label -1 is not 0 or 1', 'regression label nan is not finite')
    """
    try:
        normalize_label(task, label)
    except ModelInputError as exc:
        return str(exc)
    if isinstance(label, bool) or not isinstance(label, (int, float)):
        return None
    if not math.isfinite(label):
        return f"{task} label {label!r} is not finite"
    if task in ("binary", "anomaly") and label not in (0, 1):
        return f"{task} label {label!r} is not 0 or 1"
    return None


def _user_item(x: dict) -> tuple[Any, Any]:
    try:
        return x["user"], x["item"]
    except KeyError as exc:
        raise ModelInputError(
            f"recommendation input lacks key {exc.args[0]!r}: x must carry 'user' and 'item'"
        ) from exc


def predict(task: str, model: Any, x: dict) -> Prediction:
    """The served prediction of `model` for `x` under `task`'s convention."""
    if task == "binary":
        return Prediction(float(model.predict_proba_one(x).get(True, 0.0)))
    if task == "multiclass":
        proba = model.predict_proba_one(x)
        if not proba:
            return Prediction(0.0, None)
        best = max(proba, key=proba.get)  # River's Classifier.predict_one tie-break
        return Prediction(float(proba[best]), str(best))
    if task == "regression":
        y = model.predict_one(x)
        return Prediction(0.0 if y is None else float(y))
    if task == "anomaly":
        return Prediction(float(model.score_one(x)))
    if task == "recommendation":
        user, item = _user_item(x)
        return Prediction(float(model.predict_one(user=user, item=item, x=x)))
    raise ModelInputError(f"unknown task {task!r}")


def learn(task: str, model: Any, x: dict, y: Any) -> None:
    """Call the model's ``learn_one`` with `x` as given and the normalized target `y`."""
    if task in ("binary", "multiclass", "regression"):
        model.learn_one(x, y)
    elif task == "anomaly":
        if getattr(model, "_supervised", False):
            model.learn_one(x, y)
        else:
            model.learn_one(x)
    elif task == "recommendation":
        user, item = _user_item(x)
        model.learn_one(user=user, item=item, y=y, x=x)
    else:
        raise ModelInputError(f"unknown task {task!r}")


def loss(task: str, y: Any, prediction: Prediction | float) -> float | None:
    """The per-label loss fed to drift detectors; None when the task has no loss (anomaly).

    binary: log loss of P(True), clamped like River's ``metrics.LogLoss``; multiclass: 0/1 loss;
    regression and recommendation: absolute error.

    >>> round(loss("binary", True, 0.9), 6), loss("regression", 3.0, 1.0)
    (0.105361, 2.0)
    """
    pred = prediction if isinstance(prediction, Prediction) else Prediction(float(prediction))
    if task == "binary":
        p = min(max(pred.score, _EPS), 1 - _EPS)
        return -math.log(p) if y else -math.log(1 - p)
    if task == "multiclass":
        return 0.0 if pred.label == y else 1.0
    if task in ("regression", "recommendation"):
        return abs(float(y) - pred.score)
    return None
