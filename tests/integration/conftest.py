"""The embedded stack (Tansu, Redis, chDB server) once per test session, on free ports."""

from __future__ import annotations

import pytest

from streams.harness import EmbeddedStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with EmbeddedStack(tmp_path_factory.mktemp("eddy-stack")) as s:
        yield s


@pytest.fixture(scope="session")
def clickhouse(stack: EmbeddedStack):
    from analytics import connect

    return connect(stack.endpoints.clickhouse)
