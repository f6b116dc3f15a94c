"""An order-independent fingerprint of a run's predictions.

Each prediction row contributes ``blake2b(model, event_id, version, float.hex(prediction),
predicted_label)``; the fingerprint is their sum modulo 2**128 plus the row count, so it can be
computed from a replay in memory and from rows read back from ClickHouse in any order. Two runs
with equal fingerprints have bitwise identical predictions (up to hash collisions).

>>> a, b = PredictionDigest(), PredictionDigest()
>>> a.add("m", "e1", 0, 0.25); a.add("m", "e2", 0, 0.5)
>>> b.add("m", "e2", 0, 0.5); b.add("m", "e1", 0, 0.25)
>>> a.hexdigest() == b.hexdigest(), a.count
(True, 2)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

_MOD = 1 << 128


def row_hash(model: str, event_id: str, version: int, prediction: float, predicted_label: str | None = None) -> int:
    """The 128-bit hash of one prediction (bitwise: ``float.hex``)."""
    text = f"{model}\x1f{event_id}\x1f{int(version)}\x1f{float(prediction).hex()}\x1f{predicted_label or ''}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


class PredictionDigest:
    """Sum of row hashes (mod 2**128) and count; see the module doc."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, model: str, event_id: str, version: int, prediction: float, predicted_label: str | None = None) -> None:
        self.total = (self.total + row_hash(model, event_id, version, prediction, predicted_label)) % _MOD
        self.count += 1

    def add_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add score records (or ``predictions`` rows): keys model, event_id, model_version, prediction."""
        for r in records:
            self.add(r["model"], r["event_id"], r["model_version"], r["prediction"], r.get("predicted_label"))

    def hexdigest(self) -> str:
        return f"{self.count}:{self.total:032x}"
