"""Durations in ingestion rules: the shared parser of `eddy.durations`."""

from eddy.durations import format_duration, parse_duration

__all__ = ["format_duration", "parse_duration"]
