"""Durations in configs: "500ms", "10s", "10m", "1h", "2d", a bare number string, or an int of ms.

One parser for every package (features, learners, schemas and streams all accept the same forms).

>>> parse_duration("10m"), parse_duration("500ms"), parse_duration("2d"), parse_duration(250)
(600000, 500, 172800000, 250)
>>> format_duration(90_000), format_duration(7_200_000), format_duration(1)
('90s', '2h', '1ms')
"""

from __future__ import annotations

import re

from eddy.errors import EddyError

UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")


class DurationError(EddyError, ValueError):
    """A duration that cannot be parsed (a ValueError too, so pydantic reports it per field)."""


def parse_duration(value: int | str) -> int:
    """Milliseconds from a non-negative int (ms) or `<digits>[unit]` with unit ms, s, m, h, d."""
    if isinstance(value, bool):
        raise DurationError(f"duration {value!r} is a bool; write e.g. '10s' or an int of ms")
    if isinstance(value, int):
        if value < 0:
            raise DurationError(f"duration {value} is negative; durations are >= 0 ms")
        return value
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise DurationError(
                f"cannot parse duration {value!r}; write <int><unit> with unit ms, s, m, h or d "
                "(e.g. '500ms', '10s', '10m', '1h', '2d') or an int of milliseconds"
            )
        return int(match.group(1)) * UNITS_MS[match.group(2) or "ms"]
    raise DurationError(f"duration {value!r} has type {type(value).__name__}; use a string like '10m' or an int of ms")


def format_duration(ms: int) -> str:
    """The largest unit that divides `ms` exactly."""
    for unit in ("d", "h", "m", "s"):
        if ms and ms % UNITS_MS[unit] == 0:
            return f"{ms // UNITS_MS[unit]}{unit}"
    return f"{ms}ms"
