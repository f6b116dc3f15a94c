"""The replay order: events and labels merged into one time-ordered stream.

The rule (DESIGN "Replay"): events are ordered by ``(ts, partition, offset)`` (several partitions
merge by time, ties by partition then offset); labels likewise by ``(ts, partition, offset)``; a
label whose ``ts`` is <= an event's ``ts`` comes before that event (river's ``simulate_qa``: an
answer due at ``t`` is revealed before the question asked at ``t``). Sorting is stable, so ties that
carry no position keep their input (topic) order.

>>> evs = [Item("event", 3, 0, 0, {"id": "b"}), Item("event", 1, 1, 0, {"id": "a"})]
>>> labs = [Item("label", 1, 0, 0, {"event_id": "a"}), Item("label", 2, 0, 1, {"event_id": "b"})]
>>> [(i.kind, i.ts) for i in merge_inputs(evs, labs)]
[('label', 1), ('event', 1), ('label', 2), ('event', 3)]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["event", "label"]


@dataclass(frozen=True)
class Item:
    """One decoded input message with its time and position (archive rows: offset from the archive)."""

    kind: Kind
    ts: int
    partition: int
    offset: int
    record: dict[str, Any] = field(compare=False)
    topic: str = ""
    key: bytes | None = field(default=None, compare=False)
    value: bytes = field(default=b"", compare=False, repr=False)


def order_key(item: Item) -> tuple[int, int, int]:
    """The sort key of events (and of labels): ``(ts, partition, offset)``."""
    return (item.ts, item.partition, item.offset)


def merge_inputs(events: Sequence[Item], labels: Sequence[Item]) -> list[Item]:
    """Events and labels in replay order (see the module doc)."""
    return list(iter_merged(sorted(events, key=order_key), sorted(labels, key=order_key)))


def iter_merged(events: Sequence[Item], labels: Sequence[Item]) -> Iterator[Item]:
    """Merge two already sorted sequences: a label goes first when ``label.ts <= event.ts``."""
    i = j = 0
    n, m = len(events), len(labels)
    while i < n or j < m:
        if j < m and (i >= n or labels[j].ts <= events[i].ts):
            yield labels[j]
            j += 1
        else:
            yield events[i]
            i += 1
