"""`schemas.flat_writer`: the compiled writers give fastavro's bytes, and decline what they don't know."""

from __future__ import annotations

import io
import struct

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from schemas.flat_writer import compile_fields, compile_type

VALUES = {
    "string": st.text(),
    "long": st.integers(-(2**63), 2**63 - 1),
    "int": st.integers(-(2**31), 2**31 - 1),
    "double": st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53),
    "float": st.floats(width=32, allow_nan=False),
    "boolean": st.booleans(),
}
FLAT_TYPES = st.sampled_from(sorted(VALUES)).flatmap(lambda t: st.sampled_from([
    t, ["null", t], {"type": "map", "values": t}, {"type": t, "logicalType": "x-any"}]))


def values_of(avro_type):
    if isinstance(avro_type, str):
        return VALUES[avro_type]
    if isinstance(avro_type, list):
        return st.none() | VALUES[avro_type[1]]
    if avro_type["type"] == "map":
        return st.dictionaries(st.text(), VALUES[avro_type["values"]], max_size=6)
    return VALUES[avro_type["type"]]


@st.composite
def schemas_and_records(draw):
    types = draw(st.lists(FLAT_TYPES, min_size=1, max_size=8))
    fields = [{"name": f"f{i}", "type": t} for i, t in enumerate(types)]
    records = draw(st.lists(st.fixed_dictionaries({f["name"]: values_of(f["type"]) for f in fields}),
                            min_size=1, max_size=4))
    return fields, records


def fastavro_bytes(fields, rec) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema({"type": "record", "name": "r", "fields": fields}), rec)
    return buf.getvalue()



@given(schemas_and_records())
def test_same_bytes_as_fastavro(case):
    fields, records = case
    write = compile_fields(fields)
    assert write is not None
    for rec in records:
        assert write(rec) == fastavro_bytes(fields, rec)


@pytest.mark.parametrize("avro_type", [
    {"type": "array", "items": "long"}, {"type": "record", "name": "x", "fields": []}, "bytes",
    {"type": "enum", "name": "e", "symbols": ["A"]}, ["null", "string", "long"], ["string", "null"],
    {"type": "map", "values": {"type": "array", "items": "long"}}, {"type": "bytes", "logicalType": "decimal",
                                                                      "precision": 4},
])
def test_other_types_are_declined(avro_type):
    assert compile_type(avro_type) is None
    assert compile_fields([{"name": "a", "type": "string"}, {"name": "b", "type": avro_type}]) is None


@pytest.mark.parametrize("field_type, value", [
    ("int", 2**31), ("long", 2**63), ("long", 1.5), ("string", 3), ("double", "high"), ({"type": "map", "values": "double"},
                                                                                          {1: 2.0}),
])
def test_a_wrong_value_raises_for_the_caller_to_explain(field_type, value):
    write = compile_fields([{"name": "a", "type": field_type}])
    with pytest.raises((TypeError, AttributeError, OverflowError, struct.error)):
        write({"a": value})


@given(st.sampled_from(["double", "float"]),
       st.lists(st.text(max_size=3), min_size=1, max_size=5, unique=True),
       st.lists(st.tuples(st.randoms(use_true_random=False), st.lists(VALUES["float"], min_size=5, max_size=5)),
                min_size=2, max_size=6))
def test_maps_of_one_key_set_reuse_a_layout_with_the_same_bytes(values, keys, draws):
    """Fixed-width maps are packed by a layout kept per key tuple: orders and values vary."""
    fields = [{"name": "m", "type": {"type": "map", "values": values}}]
    write = compile_fields(fields)
    for rnd, numbers in draws:
        order = list(keys)
        rnd.shuffle(order)
        rec = {"m": dict(zip(order, numbers))}
        assert write(rec) == fastavro_bytes(fields, rec)


def test_a_wrong_value_in_a_known_map_layout_still_raises():
    write = compile_fields([{"name": "a", "type": {"type": "map", "values": "double"}}])
    write({"a": {"x": 1.0, "y": 2.0}})
    with pytest.raises((TypeError, struct.error)):
        write({"a": {"x": 1.0, "y": "high"}})
