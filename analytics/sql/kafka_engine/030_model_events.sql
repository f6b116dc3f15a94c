-- Kafka engine: <pipeline>.model-events (ModelEvent records) -> model_events.
-- Alerts have their own topic, <pipeline>.alerts (035_alerts.sql). Undecodable messages land in
-- dlq (error_class sink_decode, as with Eddy's sink).
CREATE TABLE IF NOT EXISTS {db}.kafka_{pipeline_ident}_model_events
(
    pipeline String,
    run_id   String,
    model    String,
    version  Int32,
    action   String,
    ts       DateTime64(3, 'UTC'),
    detail   String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{brokers}',
         kafka_topic_list = '{pipeline}.model-events',
         kafka_group_name = '{group}',
         kafka_format = 'AvroConfluent',
         kafka_handle_error_mode = 'stream',
         format_avro_schema_registry_url = '{registry_url}';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_model_events_mv TO {db}.model_events AS
SELECT pipeline, run_id, model, toUInt32(version) AS version, action, ts, detail
FROM {db}.kafka_{pipeline_ident}_model_events
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_model_events_errors_mv TO {db}.dlq AS
SELECT
    '{pipeline}' AS pipeline, _topic AS source_topic, toInt32(_partition) AS `partition`,
    toInt64(_offset) AS `offset`, base64Encode(ifNull(_key, '')) AS key,
    base64Encode(_raw_message) AS value, 'sink_decode' AS error_class, _error AS reason,
    now64(3) AS ts, CAST(NULL, 'Nullable(Int32)') AS schema_id
FROM {db}.kafka_{pipeline_ident}_model_events
WHERE length(_error) > 0;
