"""The served snapshot of one event: what the scorer stores in Redis for the label join.

A snapshot is a dict ``{event_id, ts, served_at, x, predictions, versions}``: ``x`` is the
feature dict exactly as given to the models, ``predictions`` each model's served prediction
(a float, or ``[score, label]`` for multiclass) and ``versions`` each model's version. Encoded as
JSON: Python floats round-trip exactly (``repr``) and key order is kept, so the decoded ``x`` is
equal to the served one, key for key and bit for bit.

>>> s = make_snapshot("e1", {"amount": 0.1, "n": 3.0}, ts=10, served_at=12,
...                   predictions={"lr": 0.25}, versions={"lr": 4})
>>> decode_snapshot(encode_snapshot(s)) == s
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from learners.exceptions import ModelInputError
from learners.predict import Prediction


def make_snapshot(
    event_id: str,
    x: dict,
    *,
    ts: int,
    served_at: int,
    predictions: Mapping[str, Prediction | float],
    versions: Mapping[str, int],
) -> dict[str, Any]:
    """Build the snapshot dict of one served event."""
    preds: dict[str, Any] = {}
    for name, pred in predictions.items():
        if isinstance(pred, Prediction):
            preds[name] = pred.score if pred.label is None else [pred.score, pred.label]
        else:
            preds[name] = pred
    return {
        "event_id": event_id,
        "ts": ts,
        "served_at": served_at,
        "x": x,
        "predictions": preds,
        "versions": dict(versions),
    }


def encode_snapshot(snapshot: Mapping[str, Any]) -> bytes:
    """JSON bytes of a snapshot (exact float round trip)."""
    try:
        return json.dumps(snapshot, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"snapshot is not JSON-able: {exc}; give plain floats/str in x") from exc


def decode_snapshot(data: bytes | str) -> dict[str, Any]:
    """Inverse of `encode_snapshot`."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ModelInputError(f"snapshot bytes are not JSON: {exc}") from exc
