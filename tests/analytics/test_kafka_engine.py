import re
from pathlib import Path
from types import SimpleNamespace

from analytics.kafka_engine import kafka_engine_statements


def test_kafka_ddl_renders_for_a_server():
    stmts = kafka_engine_statements(db="eddy", pipeline="fraud-demo", brokers="k1:9092,k2:9092",
                                    registry_url="http://registry:8081")
    joined = "\n".join(stmts)
    assert joined.count("ENGINE = Kafka") == 6
    assert "kafka_topic_list = 'fraud-demo.scores'" in joined
    assert "kafka_format = 'AvroConfluent'" in joined
    assert "format_avro_schema_registry_url = 'http://registry:8081'" in joined
    assert "eddy.kafka_fraud_demo_scores_mv TO eddy.predictions" in joined


def test_every_topic_the_sink_reads_has_a_kafka_table_feeding_the_same_table():
    """The Kafka engine replaces the sink: each topic the sink agent lands in ClickHouse (but the
    events, see docs/analytics.md) is consumed by a Kafka table whose view fills the same table."""
    from streams.config import load_config
    from streams.sink_rows import SinkRouter

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "fraud" / "config.yaml")
    routes = SinkRouter(cfg, SimpleNamespace(event_schema=None), sink=None).tables
    routes.pop(cfg.topics.events)  # events_archive: not fed by the Kafka engine (documented)
    stmts = kafka_engine_statements(db="eddy", pipeline=cfg.pipeline, brokers="b:9092", registry_url="http://r")
    topic_of = {}  # Kafka table -> topic
    for s in stmts:
        m = re.search(r"CREATE TABLE IF NOT EXISTS (\S+).*kafka_topic_list = '([^']+)'", s, re.DOTALL)
        if m:
            topic_of[m.group(1)] = m.group(2)
    fed = set()  # (topic, table) pairs the views write
    for s in stmts:
        m = re.search(r"MATERIALIZED VIEW IF NOT EXISTS \S+ TO eddy\.(\w+) AS.*\bFROM (\S+)\s+WHERE length\(_error\) = 0",
                      s, re.DOTALL)
        if m:
            fed.add((topic_of[m.group(2)], m.group(1)))
    assert fed == set(routes.items())


def test_materialized_views_feed_the_same_tables(chdb_backend, fresh_db):
    """With the Kafka engine swapped for Null (no broker here), rows pushed into the queue
    tables flow through the real materialized views into Eddy's tables."""
    for stmt in kafka_engine_statements(db=fresh_db, pipeline="demo", brokers="b:9092",
                                        registry_url="http://r", engine_override="Null"):
        chdb_backend.execute(stmt)
    ts = "fromUnixTimestamp64Milli(toInt64(1767225600000), 'UTC')"
    q = f"{fresh_db}.kafka_demo"
    score_cols = ("event_id, key, event_ts, model, model_version, role, shadow, prediction, served_ts, "
                  "latency_ms, run_id, features, segments, late, degraded")
    chdb_backend.execute(
        f"INSERT INTO {q}_scores ({score_cols}) VALUES "
        f"('e1', 'k', {ts}, 'm', 3, 'champion', 0, 0.7, {ts}, 1.5, 'r', map('f', 1.0), "
        f"map('region', 'A'), 0, 0)")
    chdb_backend.execute(
        f"INSERT INTO {q}_shadow_scores ({score_cols}) VALUES "
        f"('e1', 'k', {ts}, 'tree', 5, 'challenger', 1, 0.4, {ts}, 1.5, 'r', map('f', 1.0), "
        f"map('region', 'A'), 0, 0)")
    chdb_backend.execute(f"INSERT INTO {q}_scores (_error, _raw_message, _topic) VALUES "
                         f"('bad avro', 'xyz', 'demo.scores')")
    chdb_backend.execute(f"INSERT INTO {q}_shadow_scores (_error, _raw_message, _topic) VALUES "
                         f"('bad avro', 'xyz', 'demo.shadow-scores')")
    chdb_backend.execute(f"INSERT INTO {q}_labels (event_id, label, ts, _partition, _offset) VALUES ('e1', 1, {ts}, 1, 42)")
    chdb_backend.execute(
        f"INSERT INTO {q}_model_events (pipeline, run_id, model, version, action, ts, detail) "
        f"VALUES ('demo', 'r', 'm', 2, 'promote', {ts}, '')")
    chdb_backend.execute(
        f"INSERT INTO {q}_alerts (pipeline, run_id, model, kind, ts, value, action, detail) "
        f"VALUES ('demo', 'r', 'm', 'loss_drift', {ts}, 0.4, 'reset', 'adwin')")
    chdb_backend.execute(f"INSERT INTO {q}_alerts (_error, _raw_message, _topic) VALUES "
                         f"('bad avro', 'abc', 'demo.alerts')")
    chdb_backend.execute(f"INSERT INTO {q}_model_events (_error, _raw_message, _topic) VALUES "
                         f"('bad avro', 'me', 'demo.model-events')")
    chdb_backend.execute(f"INSERT INTO {q}_dlq (_error, _raw_message, _topic) VALUES ('bad avro', 'dl', 'demo.dlq')")
    chdb_backend.execute(
        f"INSERT INTO {q}_dlq (pipeline, source_topic, `partition`, `offset`, key, value, "
        f"error_class, reason, ts) VALUES ('demo', 'demo.events', 1, 9, NULL, 'raw', 'bad_magic', "
        f"'x', {ts})")
    db = fresh_db
    assert chdb_backend.query(
        f"SELECT pipeline, model, model_version, role, shadow, features FROM {db}.predictions ORDER BY model") == [
        {"pipeline": "demo", "model": "m", "model_version": 3, "role": "champion", "shadow": 0, "features": {"f": 1}},
        {"pipeline": "demo", "model": "tree", "model_version": 5, "role": "challenger", "shadow": 1,
         "features": {"f": 1}}]
    assert chdb_backend.query(f"SELECT count() AS n FROM {db}.labelled_predictions") == [{"n": 2}]
    assert chdb_backend.query(f"SELECT count() AS n FROM {db}.scores") == [{"n": 1}]  # champion only
    # each label keeps its topic position (a replay from the archive orders ts ties by it)
    assert chdb_backend.query(f"SELECT event_id, `partition`, `offset` FROM {db}.labels") == [
        {"event_id": "e1", "partition": 1, "offset": 42}]
    assert chdb_backend.query(f"SELECT action, version FROM {db}.model_events") == [
        {"action": "promote", "version": 2}]
    assert chdb_backend.query(
        f"SELECT pipeline, run_id, model, kind, toUnixTimestamp64Milli(ts) AS ts, value, action, detail "
        f"FROM {db}.alerts") == [
        {"pipeline": "demo", "run_id": "r", "model": "m", "kind": "loss_drift", "ts": 1767225600000, "value": 0.4,
         "action": "reset", "detail": "adwin"}]
    assert chdb_backend.query(
        f"SELECT error_class, source_topic, base64Decode(value) AS v FROM {db}.dlq ORDER BY source_topic") == [
        {"error_class": "sink_decode", "source_topic": "demo.alerts", "v": "abc"},
        {"error_class": "sink_decode", "source_topic": "demo.dlq", "v": "dl"},
        {"error_class": "bad_magic", "source_topic": "demo.events", "v": "raw"},
        {"error_class": "sink_decode", "source_topic": "demo.model-events", "v": "me"},
        {"error_class": "sink_decode", "source_topic": "demo.scores", "v": "xyz"},
        {"error_class": "sink_decode", "source_topic": "demo.shadow-scores", "v": "xyz"}]


def test_views_of_an_older_eddy_are_created_again_with_their_tables_other_views(chdb_backend, fresh_db):
    """Views from an older Eddy are replaced by `ensure_kafka_engine`: the labels view from before
    the topic positions (it wrote `partition`/`offset` -1) and the scores' error view from before
    `sink_decode` (it wrote `corrupt_avro`). The other view of the scores' Kafka table is created
    again too (a Kafka table streams while any of its views is attached); current ones are kept."""
    from analytics.kafka_engine import ensure_kafka_engine

    args = dict(db=fresh_db, pipeline="demo", brokers="b:9092", registry_url="http://r", engine_override="Null")
    for stmt in kafka_engine_statements(**args):
        if "kafka_demo_labels_mv" in stmt:
            stmt = re.sub(r",\s*toInt32\(_partition\) AS `partition`, toInt64\(_offset\) AS `offset`", "", stmt)
        if "kafka_demo_scores_errors_mv" in stmt:
            stmt = stmt.replace("'sink_decode' AS error_class", "'corrupt_avro' AS error_class")
        chdb_backend.execute(stmt)
    ts = "fromUnixTimestamp64Milli(toInt64(1767225600000), 'UTC')"

    def made() -> dict[str, str]:  # view -> its table uuid (a new one when created again)
        return {r["name"]: r["uuid"] for r in chdb_backend.query(
            f"SELECT name, toString(uuid) AS uuid FROM system.tables WHERE database = '{fresh_db}' "
            "AND engine = 'MaterializedView'")}

    def send(event_id: str, offset: int) -> None:
        chdb_backend.execute(f"INSERT INTO {fresh_db}.kafka_demo_labels (event_id, label, ts, source, _partition, "
                             f"_offset) VALUES ('{event_id}', 1.0, {ts}, NULL, 2, {offset})")
        chdb_backend.execute(f"INSERT INTO {fresh_db}.kafka_demo_scores (_topic, _partition, _offset, _raw_message, "
                             f"_error) VALUES ('demo.scores', 0, {offset}, 'xx', 'cannot parse {event_id}')")

    send("before", 7)
    before = made()
    ensure_kafka_engine(chdb_backend, **args)
    after = made()
    assert before.keys() == after.keys() and len(after) == 11
    assert {v for v in after if after[v] != before[v]} == {
        "kafka_demo_labels_mv", "kafka_demo_scores_mv", "kafka_demo_scores_errors_mv"}
    send("after", 8)
    rows = chdb_backend.query(f"SELECT event_id, partition, offset FROM {fresh_db}.labels FINAL ORDER BY event_id")
    assert rows == [{"event_id": "after", "partition": 2, "offset": 8},
                    {"event_id": "before", "partition": -1, "offset": -1}]
    letters = chdb_backend.query(f"SELECT offset, error_class FROM {fresh_db}.dlq FINAL ORDER BY offset")
    assert letters == [{"offset": 7, "error_class": "corrupt_avro"}, {"offset": 8, "error_class": "sink_decode"}]
    ensure_kafka_engine(chdb_backend, **args)
    assert made() == after  # (now current: nothing is created again)
