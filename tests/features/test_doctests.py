"""Docstring examples of the pure modules run as tests."""

from __future__ import annotations

import doctest

import pytest

import features.durations
import features.hashing
import features.memory_store
import features.spec


@pytest.mark.parametrize("module", [features.durations, features.hashing, features.memory_store, features.spec])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
