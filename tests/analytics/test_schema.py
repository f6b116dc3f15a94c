import pytest

from analytics.exceptions import ConfigError
from analytics.schema import ddl_statements, ensure_schema, ensure_views
from analytics.tables import TABLES

CH_KIND = {"str": ("String", "LowCardinality(String)"), "int": ("UInt32", "Int32", "Int64"),
           "float": ("Float64",), "bool": ("UInt8",), "ts": ("DateTime64(3, 'UTC')",),
           "b64": ("String",), "json": ("String",), "map_float": ("Map(String, Float64)",),
           "map_str": ("Map(String, String)",), "map_int": ("Map(String, Int32)", "Map(String, Int64)")}


def test_specs_match_the_created_tables(chdb_backend, fresh_db):
    for name, spec in TABLES.items():
        cols = {r["name"]: r["type"] for r in chdb_backend.query(f"DESCRIBE TABLE {fresh_db}.{name}")}
        assert set(cols) - {"inserted_at"} == set(spec.columns), name
        for col, kind in spec.columns.items():
            typ = cols[col].removeprefix("Nullable(").removesuffix(")") if cols[col].startswith("Nullable(") else cols[col]
            assert typ in CH_KIND[kind.rstrip("?")], (name, col, cols[col])


def test_engines_keys_partitions_and_ttl(chdb_backend, fresh_db):
    rows = {r["name"]: r for r in chdb_backend.query(
        "SELECT name, engine, sorting_key, partition_key, create_table_query FROM system.tables "
        "WHERE database = {db:String}", {"db": fresh_db})}
    for name, spec in TABLES.items():
        r = rows[name]
        assert r["engine"] == "ReplacingMergeTree"
        assert [k.strip().strip("`") for k in r["sorting_key"].split(",")] == list(spec.key)
        assert r["partition_key"] == f"toYYYYMMDD({spec.time_column})"
        assert ("TTL" in r["create_table_query"]) == (name != "runs")
    assert {"labelled_predictions", "drift_values", "label_delays"} <= set(rows)
    assert "eddy view v1" in chdb_backend.query(
        "SELECT comment FROM system.tables WHERE database = {db:String} AND name = "
        "'labelled_predictions'", {"db": fresh_db})[0]["comment"]


def test_ensure_is_idempotent(chdb_backend, fresh_db):
    ensure_schema(chdb_backend, fresh_db, ttl_days=3650)
    ensure_views(chdb_backend, fresh_db)


def test_ttl_days_validated():
    with pytest.raises(ConfigError):
        ddl_statements("x", 0)
    with pytest.raises(ConfigError):
        ddl_statements("x", 40000)
    assert "toIntervalDay(7)" in ddl_statements("x", 7)[1]


def test_replacing_merge_tree_is_the_second_line_of_dedup(chdb_backend, fresh_db):
    row = ("'r', 'p', 'm', 1, 'champion', 0, 'e1', 'k', fromUnixTimestamp64Milli(toInt64(1767225600000), 'UTC'), "
           "fromUnixTimestamp64Milli(toInt64(1767225600001), 'UTC'), 1.0, 0.4, NULL, map(), map(), 0, 0")
    cols = ("run_id, pipeline, model, model_version, role, shadow, event_id, key, event_ts, "
            "served_ts, latency_ms, prediction, predicted_label, features, segments, late, degraded")
    for _ in range(2):
        chdb_backend.execute(f"INSERT INTO {fresh_db}.predictions ({cols}) VALUES ({row})")
    assert chdb_backend.query(f"SELECT count() AS n FROM {fresh_db}.predictions FINAL") == [{"n": 1}]


def test_labels_created_before_positions_gain_them_and_old_rows_read_no_position(chdb_backend):
    """`labels` as Eddy created it before the label positions: ensure_schema adds `partition` and
    `offset` (ALTER ... IF NOT EXISTS, twice is fine), and the old rows read back as -1/-1."""
    db = "old_labels"
    chdb_backend.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    chdb_backend.execute(
        f"CREATE TABLE {db}.labels (pipeline LowCardinality(String), event_id String, label Float64, "
        f"label_ts DateTime64(3, 'UTC'), source Nullable(String), inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        f"ENGINE = ReplacingMergeTree(inserted_at) PARTITION BY toYYYYMMDD(label_ts) ORDER BY (pipeline, event_id) "
        f"TTL toDateTime(inserted_at) + toIntervalDay(3650)")
    chdb_backend.execute(f"INSERT INTO {db}.labels (pipeline, event_id, label, label_ts) VALUES "
                         f"('p', 'e1', 1, fromUnixTimestamp64Milli(toInt64(1767225600000), 'UTC'))")
    ensure_schema(chdb_backend, db, ttl_days=3650)
    ensure_schema(chdb_backend, db, ttl_days=3650)
    cols = [(r["name"], r["type"], r["default_expression"])
            for r in chdb_backend.query(f"DESCRIBE TABLE {db}.labels")]
    assert cols == [("pipeline", "LowCardinality(String)", ""), ("event_id", "String", ""), ("label", "Float64", ""),
                    ("label_ts", "DateTime64(3, 'UTC')", ""), ("source", "Nullable(String)", ""),
                    ("partition", "Int32", "-1"), ("offset", "Int64", "-1"),
                    ("inserted_at", "DateTime64(3, 'UTC')", "now64(3)")]
    assert {c for c, _, _ in cols} - {"inserted_at"} == set(TABLES["labels"].columns)
    chdb_backend.execute(f"INSERT INTO {db}.labels (pipeline, event_id, label, label_ts, `partition`, `offset`) VALUES "
                         f"('p', 'e2', 0, fromUnixTimestamp64Milli(toInt64(1767225600000), 'UTC'), 1, 7)")
    assert chdb_backend.query(f"SELECT event_id, `partition`, `offset` FROM {db}.labels FINAL ORDER BY event_id") == [
        {"event_id": "e1", "partition": -1, "offset": -1}, {"event_id": "e2", "partition": 1, "offset": 7}]
    chdb_backend.execute(f"OPTIMIZE TABLE {db}.labels FINAL")  # merged old parts keep the defaults
    assert chdb_backend.query(f"SELECT event_id, `partition`, `offset` FROM {db}.labels ORDER BY event_id") == [
        {"event_id": "e1", "partition": -1, "offset": -1}, {"event_id": "e2", "partition": 1, "offset": 7}]
