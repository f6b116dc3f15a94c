"""Which labels are dead-lettered, and why: one rule for the learner, the sink and replay.

A label is learned only if its record is whole (the `Label` schema is the reader, so a record of
another schema fails to decode), its ``event_id`` is not empty, its ``ts`` is a time ClickHouse
can hold (the years 1900-2299, as for events), and its value suits the task
(`learners.label_problem`: a binary label is 0 or 1, every label is finite).

>>> label_failure({"event_id": "e1", "label": 1.0, "ts": 1767225600000}, "binary") is None
True
>>> label_failure({"event_id": "e1", "label": 2.0, "ts": 1767225600000}, "binary").reason
'binary label 2.0 is not 0 or 1'
"""

from __future__ import annotations

from typing import Any

from features.columns import TS_RANGE
from learners import label_problem
from schemas import DecodeFailure, load_builtin

#: The reader schema of `<p>.labels` (parsed once: the codec caches resolutions per object).
LABEL_SCHEMA = load_builtin("label")


def label_failure(rec: dict[str, Any], task: str) -> DecodeFailure | None:
    """The dead letter's cause for a decoded label record, or None if it can be learned."""
    event_id = rec.get("event_id")
    if not event_id or (isinstance(event_id, str) and event_id.isspace()):  # (such events are refused too)
        return DecodeFailure("rule_violation", "label has an empty event_id"
                             + (f" (only whitespace: {event_id!r})" if event_id else ""))
    ts = rec.get("ts")
    if type(ts) is not int or not TS_RANGE[0] <= ts <= TS_RANGE[1]:
        return DecodeFailure("rule_violation", f"label ts {ts!r} is not a time in the years 1900-2299 (ms)")
    problem = label_problem(task, rec.get("label"))
    return None if problem is None else DecodeFailure("rule_violation", problem)
