"""Helpers for integration tests: pipeline configs derived from the bundled example, its data.

Thin names over the test kit in `streams.harness` (which the demo and benchmarks use too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.harness import EXAMPLES, example_config, example_generator

ROOT = EXAMPLES.parent
FRAUD = EXAMPLES / "fraud"


def fraud_generator() -> Any:
    return example_generator("fraud")


def write_config(tmp: Path, pipeline: str, **overrides: Any) -> Path:
    """The fraud example's config under another pipeline name, with top-level overrides."""
    return example_config(tmp, pipeline, "fraud", **overrides)
