"""Compatibility rules (Avro schema resolution), one rule per test."""

from __future__ import annotations

import pytest

from schemas import IncompatibleSchemaError, check_compatibility, compatibility_problems, resolution_problems


def rec(*fields, name="E", **extra):
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def f(name, type_, **kw):
    return {"name": name, "type": type_, **kw}


@pytest.mark.parametrize(
    "old,new",
    [("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
     ("float", "double"), ("string", "bytes"), ("bytes", "string")],
)
def test_promotions_are_backward_compatible(old, new):
    assert compatibility_problems(rec(f("x", new)), rec(f("x", old))) == []


@pytest.mark.parametrize("old,new", [("long", "int"), ("double", "float"), ("int", "string"), ("string", "int"),
                                     ("boolean", "int")])
def test_non_promotions_are_refused_naming_the_field(old, new):
    problems = compatibility_problems(rec(f("amount", new)), rec(f("amount", old)))
    assert len(problems) == 1 and "field 'amount' changed type from" in problems[0]


def test_added_field_needs_a_default():
    old = rec(f("a", "int"))
    problems = compatibility_problems(rec(f("a", "int"), f("b", "string")), old)
    assert problems == [
        ("new schema cannot read old data: field 'b' was added without a default: old data has no value "
        "for it; add a default to field 'b'")
    ]
    assert compatibility_problems(rec(f("a", "int"), f("b", "string", default="")), old) == []


def test_removed_field_is_backward_compatible_but_not_forward():
    old = rec(f("a", "int"), f("b", "string"))
    new = rec(f("a", "int"))
    assert compatibility_problems(new, old, "BACKWARD") == []
    problems = compatibility_problems(new, old, "FORWARD")
    assert len(problems) == 1 and "field 'b' was removed" in problems[0]
    assert compatibility_problems(new, old, "FULL") == problems


def test_removing_an_optional_field_with_default_is_full_compatible():
    old = rec(f("a", "int"), f("note", ["null", "string"], default=None))
    assert compatibility_problems(rec(f("a", "int")), old, "FULL") == []


def test_removed_enum_symbol_refused_unless_enum_has_default():
    def enum(symbols, **kw):
        return rec(f("cur", {"type": "enum", "name": "Cur", "symbols": symbols, **kw}))

    problems = compatibility_problems(enum(["EUR", "USD"]), enum(["EUR", "USD", "GBP"]))
    assert len(problems) == 1 and "field 'cur'" in problems[0] and "['GBP']" in problems[0]
    assert compatibility_problems(enum(["EUR", "USD", "OTHER"], default="OTHER"), enum(["EUR", "USD", "GBP"])) == []
    assert compatibility_problems(enum(["EUR", "USD", "GBP", "JPY"]), enum(["EUR", "USD", "GBP"])) == []


def test_union_widening_and_narrowing():
    old = rec(f("x", "string"))
    assert compatibility_problems(rec(f("x", ["null", "string"], default=None)), old) == []
    problems = compatibility_problems(rec(f("x", "string")), rec(f("x", ["null", "string"])))
    assert len(problems) == 1 and "field 'x'" in problems[0] and "null" in problems[0]


def test_making_a_field_nullable_is_backward_but_not_forward():
    old, new = rec(f("x", "string")), rec(f("x", ["null", "string"], default=None))
    assert compatibility_problems(new, old, "BACKWARD") == []
    (problem,) = compatibility_problems(new, old, "FORWARD")
    assert "field 'x' may be null (a branch of union[null,string]), which string cannot hold" in problem


def test_nested_record_field_path():
    inner_old = {"type": "record", "name": "Card", "fields": [f("id", "string")]}
    inner_new = {"type": "record", "name": "Card", "fields": [f("id", "string"), f("country", "string")]}
    problems = compatibility_problems(rec(f("card", inner_new)), rec(f("card", inner_old)))
    assert problems and "add a default to field 'card.country'" in problems[0]


def test_array_and_map_items():
    assert compatibility_problems(rec(f("xs", {"type": "array", "items": "long"})),
                                  rec(f("xs", {"type": "array", "items": "int"}))) == []
    problems = compatibility_problems(rec(f("m", {"type": "map", "values": "int"})),
                                      rec(f("m", {"type": "map", "values": "string"})))
    assert problems and "m{}" in problems[0]


def test_renamed_field_through_alias():
    old = rec(f("amt", "double"))
    assert compatibility_problems(rec(f("amount", "double", aliases=["amt"])), old) == []
    assert compatibility_problems(rec(f("amount", "double")), old) != []


def test_record_rename_needs_alias():
    assert compatibility_problems(rec(f("a", "int"), name="New"), rec(f("a", "int"), name="Old"))
    assert compatibility_problems(rec(f("a", "int"), name="New", aliases=["Old"]), rec(f("a", "int"), name="Old")) == []


def test_fixed_size_change():
    problems = compatibility_problems(rec(f("h", {"type": "fixed", "name": "H", "size": 8})),
                                      rec(f("h", {"type": "fixed", "name": "H", "size": 4})))
    assert problems and "fixed size" in problems[0]


def test_recursive_schema_terminates():
    node = {"type": "record", "name": "Node", "fields": [f("v", "int"), f("next", ["null", "Node"], default=None)]}
    assert resolution_problems(node, node) == []


def test_none_mode_accepts_anything_and_unknown_mode_errors():
    assert compatibility_problems(rec(f("a", "string")), rec(f("a", "int")), "NONE") == []
    with pytest.raises(ValueError, match="unknown compatibility"):
        compatibility_problems(rec(f("a", "int")), rec(f("a", "int")), "SIDEWAYS")


def test_check_compatibility_raises_with_what_to_do():
    with pytest.raises(IncompatibleSchemaError) as err:
        check_compatibility(rec(f("a", "int"), f("b", "string")), rec(f("a", "int")), subject="t-value")
    assert "subject 't-value'" in str(err.value) and "add a default to field 'b'" in str(err.value)
    assert err.value.problems and "field 'b'" in err.value.problems[0]
