import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.exceptions import ConfigError
from analytics.sqltext import identifier, literal, param_text, render, split_statements

HOSTILE = ["it's", "back\\slash", "new\nline", "tab\t", "nul\0byte", "'); DROP TABLE x; --",
           "{db}", "{x:String}", "üñí©ødé", "", "nel\x85", "ls\u2028"]


def test_identifier_rejects_injection():
    assert identifier("eddy_1") == "eddy_1"
    for bad in ["a.b", "x; DROP", "1abc", "", "a b", "a`b"]:
        with pytest.raises(ConfigError):
            identifier(bad)


def test_render_fills_known_placeholders_and_keeps_query_parameters():
    sql = render("SELECT {v:UInt8} FROM {db}.t WHERE s = '{name}' TTL {n}", db="x", name="o'k", n=3)
    assert sql == "SELECT {v:UInt8} FROM x.t WHERE s = 'o\\'k' TTL 3"
    with pytest.raises(ConfigError, match="needs a value"):
        render("{missing}")
    with pytest.raises(ConfigError):
        render("{db}", db="x; DROP TABLE y")


def test_split_statements_drops_comment_only_parts():
    text = "-- head\nCREATE A;\n-- only a comment;\nCREATE B;\n"
    assert split_statements(text) == ["-- head\nCREATE A", "CREATE B"]


@pytest.mark.parametrize("value", HOSTILE)
def test_literals_and_params_round_trip_through_chdb(chdb_backend, value):
    got = chdb_backend.query(f"SELECT {literal(value)} AS a, {{p:String}} AS b", {"p": value})
    assert got == [{"a": value, "b": value}]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=8), max_size=4))
def test_array_params_round_trip(chdb_backend, values):
    got = chdb_backend.query("SELECT {a:Array(String)} AS a", {"a": values})
    assert got == [{"a": values}]


def test_param_text_scalars():
    assert param_text(1.5) == "1.5" and param_text(True) == "1" and param_text("x") == "x"
    assert literal(float("nan")) == "nan" and literal(None) == "NULL"
