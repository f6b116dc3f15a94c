"""Parse durations written in configs ("500ms", "10s", "10m", "1h", "2d" or an int of ms)."""

from __future__ import annotations

import re

from features.exceptions import FeatureSpecError

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: int | str) -> int:
    """Return a duration in milliseconds.

    Accepts a non-negative int (already ms) or a string `<digits><unit>` with unit in
    ms, s, m, h, d (a bare number string is ms).

    >>> parse_duration("10m"), parse_duration("500ms"), parse_duration("2d"), parse_duration(250)
    (600000, 500, 172800000, 250)
    """
    if isinstance(value, bool):
        raise FeatureSpecError(f"duration {value!r} is a bool; write e.g. '10s' or an int of ms")
    if isinstance(value, int):
        if value < 0:
            raise FeatureSpecError(f"duration {value} is negative; durations are >= 0 ms")
        return value
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise FeatureSpecError(
                f"cannot parse duration {value!r}; write <int><unit> with unit ms, s, m, h or d "
                "(e.g. '500ms', '10s', '10m', '1h', '2d') or an int of milliseconds"
            )
        return int(match.group(1)) * _UNITS_MS[match.group(2) or "ms"]
    raise FeatureSpecError(
        f"duration {value!r} has type {type(value).__name__}; use a string like '10m' or an int of ms"
    )
