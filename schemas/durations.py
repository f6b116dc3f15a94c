"""Durations in configs: "500ms", "10s", "10m", "1h", "2d" or an int of ms.

>>> parse_duration("10m"), parse_duration(250), format_duration(90_000), format_duration(7_200_000)
(600000, 250, '90s', '2h')
"""

from __future__ import annotations

import re

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: int | str) -> int:
    """Milliseconds from an int (ms) or `<digits><unit>`; ValueError with a hint otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} is a bool; write e.g. '10s' or an int of ms")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration {value} is negative; durations are >= 0 ms")
        return value
    if isinstance(value, str):
        m = _PATTERN.match(value)
        if m is None:
            raise ValueError(
                f"cannot parse duration {value!r}; write <int><unit> with unit ms, s, m, h or d "
                "(e.g. '500ms', '10m', '2d') or an int of milliseconds"
            )
        return int(m.group(1)) * _UNITS_MS[m.group(2) or "ms"]
    raise ValueError(f"duration {value!r} has type {type(value).__name__}; use a string like '10m' or an int of ms")


def format_duration(ms: int) -> str:
    """The largest unit that divides `ms` exactly."""
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"
