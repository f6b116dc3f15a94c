"""Durations in model config: the shared parser of `eddy.durations` (``parse_duration_ms``)."""

from eddy.durations import parse_duration as parse_duration_ms

__all__ = ["parse_duration_ms"]
