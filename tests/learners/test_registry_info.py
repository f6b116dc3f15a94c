"""The info JSON of a model version: the head (without the meta) reads the same as the whole."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from learners.registry import _info_head, _info_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(created=st.integers(0, 2**53), action=st.text(), source=st.none() | st.integers(0, 10**9),
       meta=st.dictionaries(st.text(), json_values, max_size=5))
def test_the_head_is_the_whole_info_without_its_meta(created, action, source, meta):
    raw = _info_json(created, action, source, json.dumps(meta))
    whole = json.loads(raw)
    assert whole.pop("meta") == meta
    assert _info_head(raw) == _info_head(raw.encode()) == whole


def test_other_layouts_are_parsed_whole():
    raw = json.dumps({"meta": {"a": 1}, "created_ms": 4, "action": "rollback"})
    assert _info_head(raw) == {"created_ms": 4, "action": "rollback"}
