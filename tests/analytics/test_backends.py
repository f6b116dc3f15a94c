import pytest

from analytics.backends import ChdbBackend, ConnectBackend, HttpBackend, connect, redact_url
from analytics.exceptions import BackendUnavailable, ConfigError, QueryError, ReadOnlyError


def test_connect_dispatches_on_scheme(chdb_backend):
    http = connect("http://u:pw@127.0.0.1:1")
    assert isinstance(http, HttpBackend) and "pw" not in repr(http)
    same = connect(f"chdb://{chdb_backend.path}")  # a second session on the same folder is fine
    try:
        assert isinstance(same, ChdbBackend) and same.query("SELECT 2 AS x") == [{"x": 2}]
    finally:
        same.close()
    for bad in ["ftp://x", "chdb://relative/path", "clickhouse://"]:
        with pytest.raises(ConfigError):
            connect(bad)


def test_passwords_never_leak():
    assert redact_url("clickhouse://u:hunter2@h:1/db") == "clickhouse://u:***@h:1/db"
    backend = ConnectBackend("clickhouse://u:hunter2@127.0.0.1:1/db")  # connects on first use (a sink may start first)
    with pytest.raises(BackendUnavailable) as info:
        backend.query("SELECT 1")
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value)
    with pytest.raises(BackendUnavailable) as info:
        HttpBackend("http://u:hunter2@127.0.0.1:1", timeout_s=2).query("SELECT 1")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        connect("mysql://u:hunter2@h/db")
    assert "hunter2" not in str(info.value)


def test_chdb_errors_are_classified(chdb_backend, tmp_path):
    with pytest.raises(QueryError, match="UNKNOWN_IDENTIFIER|Unknown"):
        chdb_backend.query("SELECT no_such_column")
    ro = ChdbBackend(chdb_backend.path, readonly=True)
    try:
        with pytest.raises(ReadOnlyError, match="readonly=0"):
            ro.execute("CREATE DATABASE should_not_exist")
    finally:
        ro.close()
    with pytest.raises(ConfigError):
        ChdbBackend("relative")


def test_insert_and_query_text(chdb_backend, fresh_db):
    from analytics.rows import encode_row

    chdb_backend.insert(f"{fresh_db}.labels", [encode_row("labels", {
        "pipeline": "p", "event_id": "e", "label": 1.0, "label_ts": 1767225600123})])
    assert chdb_backend.query(
        f"SELECT toUnixTimestamp64Milli(label_ts) AS ms FROM {fresh_db}.labels") == [{"ms": 1767225600123}]
    assert chdb_backend.query_text("SELECT 1 AS a", "CSVWithNames") == '"a"\n1\n'
    assert chdb_backend.ping()
    with pytest.raises(ConfigError):
        chdb_backend.insert("bad name.t", [{"a": 1}])


def test_failed_multi_statement_leaves_no_stale_output(chdb_backend):
    with pytest.raises(QueryError):
        chdb_backend.query("SELECT 1 AS a; SELECT no_such_column")
    assert chdb_backend.query("SELECT 2 AS b") == [{"b": 2}]
