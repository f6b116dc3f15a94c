"""`eddy up / down / status`: idempotent, clear errors, endpoints recorded for other commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streams.cli.main import app
from streams.endpoints import resolve
from streams.exceptions import StackError
from streams.stack import status, up

pytestmark = pytest.mark.integration


def test_up_is_idempotent(stack):
    again = up(stack.home)
    assert again.pids == stack.state.pids
    assert all(status(stack.home).health().values())


def test_taken_port_is_a_clear_error(stack, tmp_path):
    taken = int(stack.endpoints.kafka.rsplit(":", 1)[1])
    with pytest.raises(StackError, match=f"port {taken}.*taken"):
        up(tmp_path / "other", kafka_port=taken)
    assert status(tmp_path / "other") is None  # nothing half-started is recorded


def test_commands_read_endpoints_from_the_state_file_and_env(stack, monkeypatch):
    for var in ("EDDY_KAFKA", "EDDY_REDIS", "EDDY_CLICKHOUSE"):
        monkeypatch.delenv(var, raising=False)
    eps = resolve(home=stack.home)
    assert eps == stack.endpoints
    monkeypatch.setenv("EDDY_KAFKA", "broker.example:9092")
    assert resolve(home=stack.home).kafka == "broker.example:9092"


def test_status_and_sql_cli(stack):
    runner = CliRunner()
    res = runner.invoke(app, ["status", "--home", str(stack.home)])
    assert res.exit_code == 0 and "kafka" in res.output
    res = runner.invoke(app, ["sql", "SELECT 1 + 1 AS two", "--format", "json", "--clickhouse", stack.endpoints.clickhouse])
    assert res.exit_code == 0 and '"two": 2' in res.output
    res = runner.invoke(app, ["sql", "CREATE TABLE eddy.nope (x Int8) ENGINE = Memory", "--clickhouse", stack.endpoints.clickhouse])
    assert res.exit_code != 0  # read-only unless --write


def test_missing_endpoint_names_the_fix(tmp_path, monkeypatch):
    for var in ("EDDY_KAFKA", "EDDY_REDIS", "EDDY_CLICKHOUSE"):
        monkeypatch.delenv(var, raising=False)
    from streams.exceptions import EndpointError

    with pytest.raises(EndpointError, match="eddy up"):
        resolve(home=tmp_path)
