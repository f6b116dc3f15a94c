"""Fixtures for the `schemas` tests."""

from __future__ import annotations

import pytest
from schemas_testkit import EVENT_V1, FakeConfluentServer

from schemas import AvroCodec, FolderRegistry


@pytest.fixture
def registry(tmp_path) -> FolderRegistry:
    return FolderRegistry(tmp_path / "registry")


@pytest.fixture
def codec(registry) -> AvroCodec:
    c = AvroCodec(registry)
    c.register("fraud.events-value", EVENT_V1)
    return c


@pytest.fixture
def fake_confluent():
    with FakeConfluentServer() as server:
        yield server
