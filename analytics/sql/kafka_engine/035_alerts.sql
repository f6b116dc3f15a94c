-- Kafka engine: <pipeline>.alerts (Alert records: drift, lost state, ...) -> alerts, field for
-- field as Eddy's sink writes them. Undecodable messages land in dlq (error_class sink_decode, as with Eddy's sink).
CREATE TABLE IF NOT EXISTS {db}.kafka_{pipeline_ident}_alerts
(
    pipeline String,
    run_id   String,
    model    String,
    kind     String,
    ts       DateTime64(3, 'UTC'),
    value    Float64,
    action   String,
    detail   String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{brokers}',
         kafka_topic_list = '{pipeline}.alerts',
         kafka_group_name = '{group}',
         kafka_format = 'AvroConfluent',
         kafka_handle_error_mode = 'stream',
         format_avro_schema_registry_url = '{registry_url}';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_alerts_mv TO {db}.alerts AS
SELECT pipeline, run_id, model, kind, ts, value, action, detail
FROM {db}.kafka_{pipeline_ident}_alerts
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_alerts_errors_mv TO {db}.dlq AS
SELECT
    '{pipeline}' AS pipeline, _topic AS source_topic, toInt32(_partition) AS `partition`,
    toInt64(_offset) AS `offset`, base64Encode(ifNull(_key, '')) AS key,
    base64Encode(_raw_message) AS value, 'sink_decode' AS error_class, _error AS reason,
    now64(3) AS ts, CAST(NULL, 'Nullable(Int32)') AS schema_id
FROM {db}.kafka_{pipeline_ident}_alerts
WHERE length(_error) > 0;
