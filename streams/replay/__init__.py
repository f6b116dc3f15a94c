"""Deterministic replay: merged inputs, one loop over the same `Processor`, fingerprints."""

from streams.replay.digest import PredictionDigest, row_hash
from streams.replay.loop import ReplayLoop, ReplayStats
from streams.replay.merge import Item, iter_merged, merge_inputs, order_key

__all__ = [
    "Item", "PredictionDigest", "ReplayLoop", "ReplayStats", "iter_merged", "merge_inputs", "order_key", "row_hash",
]
