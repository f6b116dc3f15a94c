from analytics.kafka_engine import kafka_engine_statements


def test_kafka_ddl_renders_for_a_server():
    stmts = kafka_engine_statements(db="eddy", pipeline="fraud-demo", brokers="k1:9092,k2:9092",
                                    registry_url="http://registry:8081")
    joined = "\n".join(stmts)
    assert joined.count("ENGINE = Kafka") == 4
    assert "kafka_topic_list = 'fraud-demo.scores'" in joined
    assert "kafka_format = 'AvroConfluent'" in joined
    assert "format_avro_schema_registry_url = 'http://registry:8081'" in joined
    assert "eddy.kafka_fraud_demo_scores_mv TO eddy.predictions" in joined


def test_materialized_views_feed_the_same_tables(chdb_backend, fresh_db):
    """With the Kafka engine swapped for Null (no broker here), rows pushed into the queue
    tables flow through the real materialized views into Eddy's tables."""
    for stmt in kafka_engine_statements(db=fresh_db, pipeline="demo", brokers="b:9092",
                                        registry_url="http://r", engine_override="Null"):
        chdb_backend.execute(stmt)
    ts = "fromUnixTimestamp64Milli(toInt64(1767225600000), 'UTC')"
    q = f"{fresh_db}.kafka_demo"
    chdb_backend.execute(
        f"INSERT INTO {q}_scores (event_id, key, event_ts, model, model_version, role, shadow, "
        f"prediction, served_ts, latency_ms, run_id, features, segments, late, degraded) VALUES "
        f"('e1', 'k', {ts}, 'm', 3, 'champion', 0, 0.7, {ts}, 1.5, 'r', map('f', 1.0), "
        f"map('region', 'A'), 0, 0)")
    chdb_backend.execute(f"INSERT INTO {q}_scores (_error, _raw_message, _topic) VALUES "
                         f"('bad avro', 'xyz', 'demo.scores')")
    chdb_backend.execute(f"INSERT INTO {q}_labels (event_id, label, ts) VALUES ('e1', 1, {ts})")
    chdb_backend.execute(
        f"INSERT INTO {q}_model_events (pipeline, run_id, model, version, action, ts, detail, kind, "
        f"value) VALUES ('demo', 'r', 'm', 2, 'promote', {ts}, '', '', 0), "
        f"('demo', 'r', 'm', 0, '', {ts}, 'adwin', 'loss_drift', 0.4)")
    chdb_backend.execute(
        f"INSERT INTO {q}_dlq (pipeline, source_topic, `partition`, `offset`, key, value, "
        f"error_class, reason, ts) VALUES ('demo', 'demo.events', 1, 9, NULL, 'raw', 'bad_magic', "
        f"'x', {ts})")
    db = fresh_db
    assert chdb_backend.query(f"SELECT pipeline, model_version, features FROM {db}.predictions") == [
        {"pipeline": "demo", "model_version": 3, "features": {"f": 1}}]
    assert chdb_backend.query(f"SELECT count() AS n FROM {db}.labelled_predictions") == [{"n": 1}]
    assert chdb_backend.query(f"SELECT action, version FROM {db}.model_events") == [
        {"action": "promote", "version": 2}]
    assert chdb_backend.query(f"SELECT kind, action FROM {db}.alerts") == [
        {"kind": "loss_drift", "action": "none"}]
    assert chdb_backend.query(
        f"SELECT error_class, base64Decode(value) AS v FROM {db}.dlq ORDER BY error_class") == [
        {"error_class": "bad_magic", "v": "raw"}, {"error_class": "corrupt_avro", "v": "xyz"}]
