"""Durations in config: an int of milliseconds or a string such as ``"500ms"``, ``"10m"``, ``"2d"``."""

from __future__ import annotations

import re

_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")


def parse_duration_ms(value: int | str) -> int:
    """Return a duration in milliseconds.

    >>> parse_duration_ms("10m"), parse_duration_ms("500ms"), parse_duration_ms(250)
    (600000, 500, 250)
    """
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} is a bool: give ms as an int or a string like '10m'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration {value} is negative: give a value >= 0")
        return value
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(
        f"duration {value!r} is not understood: give ms as an int or a string like "
        "'500ms', '30s', '10m', '1h', '2d'"
    )
