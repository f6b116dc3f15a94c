"""Windowed features: specs, Numba kernels, state stores (memory, Redis), engine and lookup."""

from features.durations import parse_duration
from features.engine import EngineStats, FeatureBatch, FeatureEngine, lookup
from features.exceptions import (
    FeatureError,
    FeatureInputError,
    FeatureSpecError,
    StateConflictError,
    StateStoreError,
)
from features.hashing import stable_hash
from features.kernels import warm_up
from features.memory_store import MemoryStateStore
from features.redis_store import RedisStateStore
from features.spec import DerivedFeature, FeatureSet, PassthroughFeature, WindowFeature
from features.state import Attached, CommitResult, LoadResult, StateStore

__all__ = [
    "Attached",
    "CommitResult",
    "DerivedFeature",
    "EngineStats",
    "FeatureBatch",
    "FeatureEngine",
    "FeatureError",
    "FeatureInputError",
    "FeatureSet",
    "FeatureSpecError",
    "LoadResult",
    "MemoryStateStore",
    "PassthroughFeature",
    "RedisStateStore",
    "StateConflictError",
    "StateStore",
    "StateStoreError",
    "WindowFeature",
    "lookup",
    "parse_duration",
    "stable_hash",
    "warm_up",
]
