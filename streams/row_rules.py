"""What a worker would dead-letter as a `rule_violation`, checked before a row is published
(`eddy produce`, `eddy dlq replay --fix`), so a file's bad rows are reported with their line
numbers instead of sent.

``row_checker(cfg, "events")(record, value)`` gives e.g. ``'rule violation: amount=-5.0 is below
min 0'``, or None for a row the worker would score.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from schemas import check_rules, check_size, sure_pass
from streams.config import PipelineConfig
from streams.label_rules import label_failure

#: ``check(record, encoded value) -> reason or None``
Check = Callable[[dict[str, Any], bytes], "str | None"]


def row_checker(cfg: PipelineConfig, attr: str) -> Check:
    """What the worker would dead-letter as a `rule_violation`, for a row the schema accepted:
    events against the config's `rules` (the time rules against the clock now), labels against
    what the learner can learn (`streams.label_rules`)."""
    if attr == "labels":
        task = cfg.models.task

        def check_label(rec: dict[str, Any], value: bytes) -> str | None:
            failure = label_failure(rec, task)
            return None if failure is None else f"rule violation: {failure.reason}"

        return check_label
    rules = cfg.rules
    ts_field = rules.ts_field or cfg.event.time_field
    sure = sure_pass(rules, ts_field=ts_field)

    def check_event(rec: dict[str, Any], value: bytes) -> str | None:
        if rules.is_empty:
            return None
        now_ms = int(time.time() * 1000)
        problems = [] if sure is not None and sure(rec, now_ms) else check_rules(rec, rules, now_ms, ts_field=ts_field)
        too_big = check_size(len(value), rules)
        if too_big is not None:
            problems.append(too_big)
        return "rule violation: " + "; ".join(problems) if problems else None

    return check_event


__all__ = ["Check", "row_checker"]
