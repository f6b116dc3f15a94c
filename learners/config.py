"""Model configuration: `ModelSpec`, `DriftConfig`, `JoinConfig` and `ModelsConfig`.

A YAML ``models:`` block parses into `ModelsConfig`; unknown keys are rejected.

>>> cfg = ModelsConfig(task="binary", champion={"name": "lr", "model": "logreg"},
...                    challengers=[{"name": "tree", "model": "hoeffding_tree"}])
>>> [s.name for s in cfg.specs], cfg.baseline_name
(['lr', 'tree'], 'baseline')
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from learners.durations import parse_duration_ms

Task = Literal["binary", "multiclass", "regression", "anomaly", "recommendation"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression", "anomaly", "recommendation")
DriftAction = Literal["none", "reset", "promote"]

#: The seed used when none is given: nothing random is ever unseeded.
DEFAULT_SEED = 42

#: The name the trivial baseline model gets in a `ModelSet`; reserved.
BASELINE_NAME = "baseline"

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_CATALOG_NAME = re.compile(r"^[A-Za-z_]\w*$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSpec(_Frozen):
    """One model: a unique `name`, a catalog name or ``package.module:factory``, and params.

    `params` are keyword arguments of the factory (YAML scalars, lists, dicts).
    """

    name: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"model name {value!r} is invalid: use 1-64 letters, digits, '_', '-' or '.'"
            )
        return value

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        if ":" in value and not _IMPORT_PATH.match(value):
            raise ValueError(
                f"import path {value!r} is malformed: write it as 'package.module:factory'"
            )
        if ":" not in value and not _CATALOG_NAME.match(value):
            raise ValueError(
                f"model {value!r} is malformed: give a catalog name (e.g. logreg) or an import "
                "path 'package.module:factory'"
            )
        return value

    @property
    def is_import_path(self) -> bool:
        """True when `model` is ``package.module:factory`` rather than a catalog name."""
        return ":" in self.model


class DriftConfig(_Frozen):
    """Drift detection on each model's loss stream and prediction stream.

    `action` is applied on an alert of a kind in `act_on` (a loss-drift alert only when the loss
    rose): ``none`` only logs, ``reset`` rebuilds the alerting model fresh (any model),
    ``promote`` (a champion's alert only) makes the challenger with the lowest recent loss
    champion, if it beats the champion's recent loss.
    """

    enabled: bool = True
    delta: float = Field(0.002, gt=0, lt=1, description="ADWIN confidence (smaller: fewer alerts)")
    grace_period: int = Field(30, ge=1, description="values seen before ADWIN may alert")
    clock: int = Field(32, ge=1, description="ADWIN looks for a change every `clock` values (River's default; 1: after every value)")
    prediction_detector: Literal["adwin", "none"] = "adwin"
    prediction_delta: float = Field(0.0001, gt=0, lt=1)
    action: DriftAction = "none"
    act_on: list[Literal["loss_drift", "prediction_drift"]] = Field(
        default_factory=lambda: ["loss_drift"]
    )
    recent_window: int = Field(200, ge=1, description="labels in the recent loss used to rank")
    cooldown: int | str = Field("0ms", description="minimum time between two actions on one model (a reset, a promotion or demotion), and between two promotions")

    @property
    def cooldown_ms(self) -> int:
        """`cooldown` in milliseconds."""
        return parse_duration_ms(self.cooldown)

    @field_validator("cooldown")
    @classmethod
    def _check_cooldown(cls, value: int | str) -> int | str:
        parse_duration_ms(value)
        return value


class VersionsConfig(_Frozen):
    """Which model versions the registry keeps: the last `keep_last` (quick rollbacks), and the
    first version of every `keep_every` for `keep_for` (rollback to "yesterday's model", and the
    snapshot a score of that time names). A learner saves a version per checkpoint
    (`worker.publish_interval`, 1 s by default): 20 versions alone reach back 20 s.
    """

    keep_last: int = Field(20, ge=0, description="the newest versions kept per model (0: keep every version)")
    keep_every: int | str = Field("1h", description="also keep the first version of every such period (0: none)")
    keep_for: int | str = Field("1d", description="for this long")

    @field_validator("keep_every", "keep_for")
    @classmethod
    def _check_duration(cls, value: int | str) -> int | str:
        parse_duration_ms(value)
        return value

    @property
    def keep_every_ms(self) -> int:
        return parse_duration_ms(self.keep_every)

    @property
    def keep_for_ms(self) -> int:
        return parse_duration_ms(self.keep_for)


class JoinConfig(_Frozen):
    """Delayed-label join settings used by `Learner`.

    `early_label_wait`: how long a label without a served snapshot waits (it may have arrived
    before its event) before it is declared an orphan. `dedupe_horizon`: how long a learned event
    id is remembered to drop redelivered labels. `max_learned`: at most this many of those ids in
    memory (~190 B each) for a learner whose ids are also marked in the snapshot store
    (`Learner.tracks_marks`): older ones are looked up there (0: no bound).
    """

    early_label_wait: int | str = "10m"
    dedupe_horizon: int | str = "7d"
    max_pending: int = Field(100_000, ge=0)
    max_learned: int = Field(1_000_000, ge=0)

    @field_validator("early_label_wait", "dedupe_horizon")
    @classmethod
    def _check_duration(cls, value: int | str) -> int | str:
        parse_duration_ms(value)
        return value

    @property
    def early_label_wait_ms(self) -> int:
        """`early_label_wait` in milliseconds."""
        return parse_duration_ms(self.early_label_wait)

    @property
    def dedupe_horizon_ms(self) -> int:
        """`dedupe_horizon` in milliseconds."""
        return parse_duration_ms(self.dedupe_horizon)


class ModelsConfig(_Frozen):
    """The models of a pipeline: task, champion, challengers (shadow), baseline, threshold, seed."""

    task: Task
    champion: ModelSpec
    challengers: list[ModelSpec] = Field(default_factory=list)
    baseline: bool = True
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    seed: int = DEFAULT_SEED
    drift: DriftConfig = Field(default_factory=DriftConfig)
    versions: VersionsConfig = Field(default_factory=VersionsConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> ModelsConfig:
        seen: set[str] = set()
        for spec in self.specs:
            if spec.name in seen:
                raise ValueError(f"model name {spec.name!r} is used twice: give each model its own name")
            if spec.name == BASELINE_NAME and self.baseline:
                raise ValueError(
                    f"model name {BASELINE_NAME!r} is reserved for the baseline: rename the model "
                    "or set baseline: false"
                )
            seen.add(spec.name)
        return self

    @property
    def specs(self) -> list[ModelSpec]:
        """Champion then challengers, in config order."""
        return [self.champion, *self.challengers]

    @property
    def n_models(self) -> int:
        """How many models score each event: champion, challengers and the baseline (if any)."""
        return len(self.specs) + int(self.baseline)

    @property
    def baseline_name(self) -> str | None:
        """The baseline's model name, or None when `baseline` is false."""
        return BASELINE_NAME if self.baseline else None
