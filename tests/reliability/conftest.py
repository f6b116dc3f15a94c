"""Reliability drills get their own embedded stack: they stop and restart its services."""

from __future__ import annotations

import pytest

from streams.harness import EmbeddedStack


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory):
    with EmbeddedStack(tmp_path_factory.mktemp("eddy-drill")) as s:
        yield s
