"""`streams.batch_send.KeyedPartitions` answers exactly as the partitioner it remembers (the
broker side, records landing in those partitions, runs in tests/integration/test_batch_send.py)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.batch_send import KeyedPartitions

_layouts = st.integers(1, 12).flatmap(
    lambda n: st.tuples(st.just(list(range(n))), st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)))


@settings(deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=6), _layouts), max_size=60), st.integers(1, 5))
def test_same_answers_as_the_partitioner(calls, limit):
    """Keys (repeated, across layouts, past the memo's limit) get the partitioner's partition."""
    partitioner = DefaultPartitioner()
    keyed = KeyedPartitions(partitioner, limit=limit)
    for key, (all_parts, available) in calls * 2:
        assert keyed(key, all_parts, available) == partitioner(key, all_parts, available)


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, key, all_parts, available):
        self.calls += 1
        return (len(key) if key is not None else self.calls) % len(all_parts)


def test_each_key_hashed_once_per_layout_none_keys_every_time():
    counting = Counting()
    keyed = KeyedPartitions(counting)
    for _ in range(3):
        keyed(b"a", [0, 1], [0, 1])
        keyed(b"a", [0, 1, 2], [0, 1, 2])  # another layout: asked again
    assert counting.calls == 2
    picks = {keyed(None, [0, 1], [0, 1]) for _ in range(4)}  # spread by the partitioner, not pinned
    assert counting.calls == 6 and picks == {0, 1}


def test_another_partitioner_forgets_the_answers():
    first, second = Counting(), Counting()
    keyed = KeyedPartitions(first)
    keyed(b"k", [0, 1], [0, 1])
    assert keyed.use(first) is keyed and keyed(b"k", [0, 1], [0, 1]) == 1 and first.calls == 1
    keyed.use(second)(b"k", [0, 1], [0, 1])
    assert second.calls == 1
