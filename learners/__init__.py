"""learners: model specs and catalog, the model set, the registry, the label join and drift."""

from learners.build import build_model, check_task, resolve_import_path
from learners.catalog import CATALOG, CatalogEntry, baseline_for, build_catalog_model
from learners.config import (
    BASELINE_NAME,
    DEFAULT_SEED,
    TASKS,
    DriftConfig,
    JoinConfig,
    ModelsConfig,
    ModelSpec,
    VersionsConfig,
)
from learners.drift import DriftMonitor
from learners.durations import parse_duration_ms
from learners.exceptions import (
    LearnersError,
    ModelInputError,
    ModelSpecError,
    RegistryConflict,
    RegistryError,
    VersionNotFound,
)
from learners.learner import STATUSES, Learner, LearnOutcome, LearnRecorder
from learners.metrics import ModelMetrics
from learners.model_set import ROLES, ModelSet
from learners.predict import Prediction, label_problem, learn, loss, normalize_label, predict
from learners.registry import Head, ModelRegistry, Snapshot, VersionInfo
from learners.sync import Refresher, latest_meta, refresh, refresh_steps, restore, save_checkpoint

__all__ = [
    "BASELINE_NAME",
    "CATALOG",
    "DEFAULT_SEED",
    "ROLES",
    "STATUSES",
    "TASKS",
    "CatalogEntry",
    "DriftConfig",
    "DriftMonitor",
    "Head",
    "JoinConfig",
    "LearnOutcome",
    "LearnRecorder",
    "Learner",
    "LearnersError",
    "ModelInputError",
    "ModelMetrics",
    "ModelRegistry",
    "ModelSet",
    "ModelSpec",
    "ModelSpecError",
    "ModelsConfig",
    "Prediction",
    "Refresher",
    "RegistryConflict",
    "RegistryError",
    "Snapshot",
    "VersionInfo",
    "VersionNotFound",
    "VersionsConfig",
    "baseline_for",
    "build_catalog_model",
    "build_model",
    "check_task",
    "label_problem",
    "latest_meta",
    "learn",
    "loss",
    "normalize_label",
    "parse_duration_ms",
    "predict",
    "refresh",
    "refresh_steps",
    "resolve_import_path",
    "restore",
    "save_checkpoint",
]
