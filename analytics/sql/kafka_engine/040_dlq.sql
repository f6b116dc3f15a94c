-- Kafka engine: <pipeline>.dlq -> dlq (original bytes re-encoded as base64). An undecodable dead
-- letter lands in dlq itself (error_class sink_decode, as with Eddy's sink).
CREATE TABLE IF NOT EXISTS {db}.kafka_{pipeline_ident}_dlq
(
    pipeline     String,
    source_topic String,
    `partition`  Int32,
    `offset`     Int64,
    key          Nullable(String),
    value        String,
    error_class  String,
    reason       String,
    ts           DateTime64(3, 'UTC'),
    schema_id    Nullable(Int32)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{brokers}',
         kafka_topic_list = '{pipeline}.dlq',
         kafka_group_name = '{group}',
         kafka_format = 'AvroConfluent',
         kafka_handle_error_mode = 'stream',
         format_avro_schema_registry_url = '{registry_url}';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_dlq_mv TO {db}.dlq AS
SELECT pipeline, source_topic, `partition`, `offset`, base64Encode(ifNull(key, '')) AS key,
       base64Encode(value) AS value, error_class, reason, ts, schema_id
FROM {db}.kafka_{pipeline_ident}_dlq
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_dlq_errors_mv TO {db}.dlq AS
SELECT
    '{pipeline}' AS pipeline, _topic AS source_topic, toInt32(_partition) AS `partition`,
    toInt64(_offset) AS `offset`, base64Encode(ifNull(_key, '')) AS key,
    base64Encode(_raw_message) AS value, 'sink_decode' AS error_class, _error AS reason,
    now64(3) AS ts, CAST(NULL, 'Nullable(Int32)') AS schema_id
FROM {db}.kafka_{pipeline_ident}_dlq
WHERE length(_error) > 0;
