"""What the worker makes of label outcomes: its counters, and a dead letter and a log line per orphan.

An orphan label found no snapshot within `labels.early_label_wait` (an unknown event id, a
snapshot past `labels.snapshot_ttl`) or no room in the pending buffer: it is never learned. It is
not lost either: it goes to `<p>.dlq` with error class ``orphan_label``, so it shows in
`eddy dlq ls` and the ClickHouse `dlq` table, and `eddy dlq replay -e orphan_label` sends it
again once its event is there. The letter's value is the label re-encoded with the `Label`
schema (a waiting label is kept decoded), its key the event id.

>>> from learners import LearnOutcome
>>> outcomes = [LearnOutcome("e1", "learned", {}), LearnOutcome("e2", "orphan", {}, position=(0, 7))]
>>> label_counts(outcomes)
{'labels_learned': 1, 'labels_orphan': 1}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from learners import LearnOutcome
from schemas import make_dlq_record

log = logging.getLogger("eddy.worker")

ORPHAN_CLASS = "orphan_label"


def label_counts(outcomes: Sequence[LearnOutcome]) -> dict[str, int]:
    """The pipeline counters of `outcomes`: ``labels_<status>`` -> how many."""
    counts: dict[str, int] = {}
    for o in outcomes:
        key = f"labels_{o.status}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def orphan_letters(pipeline: str, labels_topic: str, outcomes: Sequence[LearnOutcome],
                   encode: Callable[[dict[str, Any]], bytes], now_ms: int) -> list[dict[str, Any]]:
    """A DLQ record per orphan of `outcomes` whose labels-topic position is known, and one log
    line for them all (an orphan restored from a checkpoint written before positions were kept
    is logged only: its letter would have no identity)."""
    orphans = [o for o in outcomes if o.status == "orphan"]
    if not orphans:
        return []
    letters = []
    for o in orphans:
        if o.position is None:
            continue
        try:
            value = encode(o.label)
        except Exception as exc:  # noqa: BLE001 - a letter is written whatever the label holds
            value, note = b"", f" (not re-encodable: {exc})"
        else:
            note = ""
        partition, offset = o.position
        letters.append(make_dlq_record(
            pipeline, labels_topic, partition, offset, o.event_id.encode(), value, ORPHAN_CLASS,
            f"label of {o.event_id!r} not learned: {o.detail} (unknown event id, snapshot past "
            f"labels.snapshot_ttl, or pending buffer full); replay it once the event is scored{note}",
            now_ms))
    first = orphans[0]
    log.warning("%d orphan label(s), %d dead-lettered as %s (e.g. %r: %s)", len(orphans), len(letters),
                ORPHAN_CLASS, first.event_id, first.detail)
    return letters


__all__ = ["ORPHAN_CLASS", "label_counts", "orphan_letters"]
