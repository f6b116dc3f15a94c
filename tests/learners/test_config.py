"""ModelSpec / ModelsConfig / DriftConfig / JoinConfig validation and the docs' YAML example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from learners import DriftConfig, JoinConfig, ModelsConfig, ModelSet, ModelSpec, parse_duration_ms

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_spec_is_frozen_and_forbids_unknown_keys():
    spec = ModelSpec(name="lr", model="logreg", params={"l2": 0.1})
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        ModelSpec(name="lr", model="logreg", parms={})  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "model",
    ["__import__('os').system('true')", "os:system()", "a b:c", "pkg.mod:", ":factory", "x:y:z"],
)
def test_expressions_and_malformed_import_paths_are_rejected(model):
    with pytest.raises(ValidationError, match="malformed"):
        ModelSpec(name="m", model=model)


def test_import_path_shape_is_accepted():
    spec = ModelSpec(name="m", model="river.linear_model:LogisticRegression")
    assert spec.is_import_path
    assert not ModelSpec(name="m", model="logreg").is_import_path


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 65])
def test_bad_model_names(name):
    with pytest.raises(ValidationError, match="model name"):
        ModelSpec(name=name, model="logreg")


def test_names_must_be_unique():
    with pytest.raises(ValidationError, match="used twice"):
        ModelsConfig(
            task="binary",
            champion={"name": "a", "model": "logreg"},
            challengers=[{"name": "a", "model": "arf"}],
        )


def test_baseline_name_is_reserved_unless_baseline_off():
    with pytest.raises(ValidationError, match="reserved"):
        ModelsConfig(task="binary", champion={"name": "baseline", "model": "logreg"})
    cfg = ModelsConfig(task="binary", champion={"name": "baseline", "model": "logreg"}, baseline=False)
    assert cfg.baseline_name is None


def test_n_models_counts_champion_challengers_and_the_baseline():
    champion = {"name": "a", "model": "logreg"}
    assert ModelsConfig(task="binary", champion=champion).n_models == 2
    cfg = ModelsConfig(task="binary", champion=champion, challengers=[{"name": "b", "model": "arf"}], baseline=False)
    assert cfg.n_models == 2


def test_unknown_task_and_keys_are_rejected():
    with pytest.raises(ValidationError):
        ModelsConfig(task="ranking", champion={"name": "a", "model": "logreg"})
    with pytest.raises(ValidationError, match="extra"):
        ModelsConfig(task="binary", champion={"name": "a", "model": "logreg"}, champions=[])


def test_defaults():
    cfg = ModelsConfig(task="regression", champion={"name": "a", "model": "linear_regression"})
    assert (cfg.baseline, cfg.threshold, cfg.seed, cfg.challengers) == (True, 0.5, 42, [])
    assert cfg.drift.action == "none" and cfg.drift.act_on == ["loss_drift"]


def test_durations():
    assert parse_duration_ms("2d") == 2 * 86_400_000
    assert parse_duration_ms("30s") == 30_000
    assert JoinConfig(early_label_wait="5m").early_label_wait_ms == 300_000
    assert DriftConfig(cooldown=1500).cooldown_ms == 1500
    for bad in ("5 minutes", "-1s", -3, True, 1.5):
        with pytest.raises(ValueError):
            parse_duration_ms(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        JoinConfig(dedupe_horizon="forever")


def test_docs_yaml_example_parses():
    text = DOCS.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "docs/models.md must hold a YAML example"
    models = yaml.safe_load(blocks[0])["models"]
    cfg = ModelsConfig.model_validate(models)
    assert cfg.champion.name and cfg.challengers
    assert ModelSet(cfg).names == [cfg.champion.name, *(c.name for c in cfg.challengers), "baseline"]
