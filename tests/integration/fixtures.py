"""Helpers for integration tests: pipeline configs derived from the bundled example, data, waits."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
FRAUD = ROOT / "examples" / "fraud"


def fraud_generator() -> Any:
    spec = importlib.util.spec_from_file_location("fraud_generate", FRAUD / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_config(tmp: Path, pipeline: str, **overrides: Any) -> Path:
    """The fraud example's config under another pipeline name, with top-level overrides."""
    raw = yaml.safe_load((FRAUD / "config.yaml").read_text())
    raw["pipeline"] = pipeline
    raw["event"]["schema"] = str(FRAUD / "transaction.avsc")
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = tmp / f"{pipeline}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
