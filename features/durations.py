"""Durations in feature specs: `eddy.durations.parse_duration`, failing with `FeatureSpecError`.

>>> parse_duration("10m"), parse_duration(250)
(600000, 250)
"""

from __future__ import annotations

from eddy.durations import DurationError
from eddy.durations import parse_duration as _parse
from features.exceptions import FeatureSpecError


def parse_duration(value: int | str) -> int:
    """Milliseconds from "500ms", "10s", "10m", "1h", "2d" or an int of ms."""
    try:
        return _parse(value)
    except DurationError as exc:
        raise FeatureSpecError(str(exc)) from exc
