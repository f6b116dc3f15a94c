"""`eddy sql` output on the package's chDB session (streams/cli/sql.py)."""

import json

import pytest
from typer.testing import CliRunner

import streams.cli.sql as sql_cli
from streams.cli.main import app


@pytest.fixture
def eddy_sql(chdb_backend, monkeypatch):
    monkeypatch.setattr(sql_cli, "resolve_one", lambda *a: "chdb:///unused")
    monkeypatch.setattr(sql_cli, "connect", lambda url, readonly=True: chdb_backend)

    def run(*args):
        res = CliRunner().invoke(app, ["sql", *args])
        assert res.exit_code == 0, res.output
        return res

    return run


def test_rows_in_every_format(eddy_sql):
    q = "SELECT number AS n, toString(number) AS s FROM numbers(2)"
    assert [json.loads(line) for line in eddy_sql(q, "-f", "json").stdout.splitlines()] == [
        {"n": 0, "s": "0"}, {"n": 1, "s": "1"}]
    assert eddy_sql(q, "-f", "csv").stdout.splitlines() == ["n,s", "0,0", "1,1"]
    out = eddy_sql(q).stdout
    assert "n" in out and "s" in out and "0 rows" not in out


def test_an_empty_result_still_says_so(eddy_sql):
    q = "SELECT 1 AS x, 'a' AS y WHERE 0"
    table = eddy_sql(q).stdout
    assert "x" in table and "y" in table and "0 rows" in table  # the header, then the count
    assert eddy_sql(q, "-f", "csv").stdout.splitlines() == ["x,y"]  # the header line alone
    res = eddy_sql(q, "-f", "json")
    assert res.stdout == ""  # zero JSON lines: still valid JSON lines for a program
    assert "0 rows" in res.stderr


def test_a_statement_without_a_result(eddy_sql):
    assert eddy_sql("CREATE TABLE IF NOT EXISTS default.sql_cli_t (x Int8) ENGINE = Memory").stdout.strip() == "Ok."
    assert eddy_sql("DROP TABLE default.sql_cli_t", "-f", "csv").stdout == ""


def test_values_that_look_like_rich_markup_print_as_they_are(eddy_sql):
    assert "[red]x[/red]" in eddy_sql("SELECT '[red]x[/red]' AS `[b]c`").stdout
    assert "[b]c" in eddy_sql("SELECT '[red]x[/red]' AS `[b]c`").stdout
