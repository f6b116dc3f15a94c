"""`ModelSet`: the champion, the shadow challengers and the baseline of one pipeline.

Every model sees the same inputs: `predict_many` scores a batch with each model (one call per
model and input, in order), `learn_one` teaches every model the same ``x`` (the very dict given)
and the same normalized label, and updates each model's prequential metrics from the prediction
that was served for that event.

>>> from learners.config import ModelsConfig
>>> ms = ModelSet(ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"},
...                            challengers=[{"name": "nb", "model": "gaussian_nb"}]))
>>> ms.names, ms.champion_name
(['lr', 'nb', 'baseline'], 'lr')
>>> ms.predict_one({"a": 1.0})
{'lr': 0.5, 'nb': 0.0, 'baseline': 0.0}
>>> ms.learn_one({"a": 1.0}, 1.0, served=ms.predict_one({"a": 1.0}))  # the normalized label
True
>>> ms.promote("nb"), ms.roles
('lr', {'lr': 'challenger', 'nb': 'champion', 'baseline': 'baseline'})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from learners.build import build_model, check_task
from learners.catalog import baseline_for
from learners.config import ModelsConfig, ModelSpec
from learners.exceptions import LearnersError
from learners.metrics import ModelMetrics
from learners.predict import Prediction, learn, normalize_label, predict

Role = Literal["champion", "challenger", "baseline"]
ROLES: tuple[str, ...] = ("champion", "challenger", "baseline")

#: Tasks whose models learn with ``model.learn_one(x, y)`` (see `learners.predict.learn`).
_PLAIN_LEARN = frozenset(("binary", "multiclass", "regression"))

#: ``hook(model_name, x, y)``: called right before each model's ``learn_one``.
LearnHook = Callable[[str, dict, Any], None]


class ModelSet:
    """The models of one pipeline with their roles, versions and online metrics."""

    def __init__(self, config: ModelsConfig, seed: int | None = None):
        self.config = config
        self.task: str = config.task
        self.seed: int = config.seed if seed is None else seed
        self._specs: dict[str, ModelSpec | None] = {}
        self._models: dict[str, Any] = {}
        self._roles: dict[str, str] = {}
        for spec in config.specs:
            self._specs[spec.name] = spec
            self._models[spec.name] = build_model(spec, self.task, self.seed)
            self._roles[spec.name] = "champion" if spec is config.champion else "challenger"
        if config.baseline_name is not None:
            self._specs[config.baseline_name] = None
            self._models[config.baseline_name] = baseline_for(self.task)
            self._roles[config.baseline_name] = "baseline"
        self._versions: dict[str, int] = {name: 0 for name in self._models}
        self._metrics = {name: self._new_metrics() for name in self._models}
        self._hooks: list[LearnHook] = []

    def _new_metrics(self) -> ModelMetrics:
        return ModelMetrics(self.task, self.config.threshold)

    # --- introspection -------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Model names in config order: champion, challengers, baseline (stable across promotes)."""
        return list(self._models)

    @property
    def roles(self) -> dict[str, str]:
        """Model name -> ``champion`` | ``challenger`` | ``baseline``."""
        return dict(self._roles)

    @property
    def champion_name(self) -> str:
        """The name of the current champion."""
        return next(name for name, role in self._roles.items() if role == "champion")

    @property
    def versions(self) -> dict[str, int]:
        """Model name -> registry version it was last loaded from or saved as (0: never saved)."""
        return dict(self._versions)

    def served_by(self) -> list[tuple[str, int, str]]:
        """``(name, version, role)`` of every model in `names` order: what a score record names."""
        versions, roles = self._versions, self._roles
        return [(name, versions[name], roles[name]) for name in self._models]

    @property
    def models(self) -> dict[str, Any]:
        """Model name -> estimator (the live objects)."""
        return dict(self._models)

    def __contains__(self, name: object) -> bool:
        """Whether this set has a model called `name` (no copy of the model dict)."""
        return name in self._models

    def model(self, name: str) -> Any:
        """The estimator called `name`."""
        self._check_name(name)
        return self._models[name]

    def spec(self, name: str) -> ModelSpec | None:
        """The spec of `name` (None for the baseline)."""
        self._check_name(name)
        return self._specs[name]

    def _check_name(self, name: str) -> None:
        if name not in self._models:
            raise LearnersError(f"unknown model {name!r}: known models are {', '.join(self._models)}")

    # --- scoring ---------------------------------------------------------------------------
    def predict_full(self, x: dict) -> dict[str, Prediction]:
        """Each model's `Prediction` for one input."""
        return {name: predict(self.task, model, x) for name, model in self._models.items()}

    def predict_one(self, x: dict) -> dict[str, float]:
        """Each model's served score for one input."""
        return {name: p.score for name, p in self.predict_full(x).items()}

    def predict_many_full(self, xs: list[dict]) -> dict[str, list[Prediction]]:
        """Each model's `Prediction` for a batch (multiclass: ``.label`` is the class)."""
        task = self.task
        return {
            name: [predict(task, model, x) for x in xs] for name, model in self._models.items()
        }

    def predict_many(self, xs: list[dict]) -> dict[str, list[float]]:
        """Each model's served score for a batch: ``{name: [score, ...]}``."""
        return {
            name: [p.score for p in preds] for name, preds in self.predict_many_full(xs).items()
        }

    # --- learning --------------------------------------------------------------------------
    def add_learn_hook(self, hook: LearnHook) -> None:
        """Call ``hook(name, x, y)`` right before each model's ``learn_one``."""
        self._hooks.append(hook)

    def learn_one(
        self, x: dict, y: Any, served: Mapping[str, Prediction | float] | None = None
    ) -> Any:
        """Teach every model ``(x, y)``; update metrics from the `served` predictions if given.

        `y` is normalized (`learners.predict.normalize_label`) and returned.
        """
        task, models, hooks = self.task, self._models, self._hooks
        y = normalize_label(task, y)
        if served:
            metrics = self._metrics
            for name, pred in served.items():
                if name in models:
                    metrics[name].update(y, pred if isinstance(pred, Prediction) else _as_prediction(pred))
        if hooks:
            for name, model in models.items():
                for hook in hooks:
                    hook(name, x, y)
                learn(task, model, x, y)
        elif task in _PLAIN_LEARN:  # what `learn` does for these tasks, without a call per model
            for model in models.values():
                model.learn_one(x, y)
        else:
            for model in models.values():
                learn(task, model, x, y)
        return y

    def learn_model(self, name: str, x: dict, y: Any) -> None:
        """Teach only model `name` ``(x, y)``, `y` already normalized (as `learn_one` returns it);
        no metrics (its prediction was accounted when the label was first learned)."""
        self._check_name(name)
        model = self._models[name]
        for hook in self._hooks:
            hook(name, x, y)
        learn(self.task, model, x, y)

    def observe(self, name: str, y: Any, prediction: Prediction | float) -> None:
        """Account a served prediction of `name` against the (normalized) label `y`."""
        pred = prediction if isinstance(prediction, Prediction) else _as_prediction(prediction)
        self._metrics[name].update(y, pred)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Model name -> prequential metric values (plus ``n``, the labels accounted)."""
        return {name: {"n": float(m.n), **m.values()} for name, m in self._metrics.items()}

    def metrics_state(self) -> dict[str, ModelMetrics]:
        """The metrics' accumulators by model (picklable), for a learner's checkpoint."""
        return dict(self._metrics)

    def load_metrics_state(self, state: Mapping[str, ModelMetrics]) -> None:
        """Resume the metrics of `metrics_state()` for the models of this set (same task and
        threshold; others keep fresh accumulators)."""
        for name, m in state.items():
            if name in self._metrics and (m.task, m.threshold) == (self.task, self.config.threshold):
                self._metrics[name] = m

    # --- lifecycle ---------------------------------------------------------------------------
    def promote(self, name: str) -> str:
        """Make `name` champion; the old champion takes `name`'s role. Returns the old champion.
        The baseline is never promoted (`LearnersError`)."""
        self._check_name(name)
        if self._roles[name] == "baseline":
            raise LearnersError(f"model {name!r} is the baseline, which is never promoted: promote a challenger")
        old = self.champion_name
        if old != name:
            self._roles[old], self._roles[name] = self._roles[name], "champion"
        return old

    def set_roles(self, roles: Mapping[str, str]) -> None:
        """Adopt roles read from the registry (names not in this set are ignored)."""
        new = dict(self._roles)
        for name, role in roles.items():
            if name in new:
                if role not in ROLES:
                    raise LearnersError(f"model {name!r} has unknown role {role!r}: use {ROLES}")
                new[name] = role
        champions = [n for n, r in new.items() if r == "champion"]
        if len(champions) != 1:
            raise LearnersError(
                f"roles {new} name {len(champions)} champions: exactly one model must be "
                "champion; run `eddy models promote NAME` for one of this pipeline's models"
            )
        self._roles = new

    def reset(self, name: str) -> None:
        """Replace `name` with a fresh, untrained model built from its spec (same seed)."""
        self._check_name(name)
        spec = self._specs[name]
        self._models[name] = baseline_for(self.task) if spec is None else build_model(spec, self.task, self.seed)
        self._metrics[name] = self._new_metrics()

    def swap(self, name: str, model: Any, version: int) -> None:
        """Hot-swap `name` with `model` (e.g. a registry snapshot) at registry `version`."""
        self._check_name(name)
        check_task(model, self.task, f"snapshot of {name!r}")
        self._models[name] = model
        self._versions[name] = version

    def set_version(self, name: str, version: int) -> None:
        """Record that `name`'s live model is registry `version` (after a save)."""
        self._check_name(name)
        self._versions[name] = version

    def set_versions(self, versions: Iterable[tuple[str, int]] | Mapping[str, int]) -> None:
        """Record several versions at once."""
        items = versions.items() if isinstance(versions, Mapping) else versions
        for name, version in items:
            self.set_version(name, version)


def _as_prediction(value: Any) -> Prediction:
    if isinstance(value, (tuple, list)):  # (score, label) from a decoded snapshot
        return Prediction(*value)
    return Prediction(value)
