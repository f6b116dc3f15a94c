-- Kafka engine alternative to the sink (production): ClickHouse consumes <pipeline>.scores (the
-- champion's) and <pipeline>.shadow-scores (challengers and baseline, shadow = 1) itself, one
-- record per model and event, same Score schema: this file is rendered once per topic.
-- Placeholders: {db}, {pipeline} (topic prefix and value of the pipeline column),
-- {pipeline_ident} (pipeline as an identifier), {brokers}, {registry_url}, {group},
-- {scores_ident} (scores | shadow_scores), {scores_topic} (scores | shadow-scores).
-- Messages that fail to decode land in dlq as sink_decode, as with Eddy's sink
-- (kafka_handle_error_mode = 'stream').
CREATE TABLE IF NOT EXISTS {db}.kafka_{pipeline_ident}_{scores_ident}
(
    event_id        String,
    key             String,
    event_ts        DateTime64(3, 'UTC'),
    model           String,
    model_version   Int32,
    role            String,
    shadow          UInt8,
    prediction      Float64,
    predicted_label Nullable(String),
    served_ts       DateTime64(3, 'UTC'),
    latency_ms      Float64,
    run_id          String,
    features        Map(String, Float64),
    segments        Map(String, String),
    late            UInt8,
    degraded        UInt8
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{brokers}',
         kafka_topic_list = '{pipeline}.{scores_topic}',
         kafka_group_name = '{group}',
         kafka_format = 'AvroConfluent',
         kafka_handle_error_mode = 'stream',
         format_avro_schema_registry_url = '{registry_url}';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_{scores_ident}_mv TO {db}.predictions AS
SELECT
    run_id, '{pipeline}' AS pipeline, model, toUInt32(model_version) AS model_version, role,
    shadow, event_id, key, event_ts, served_ts, latency_ms, prediction, predicted_label,
    features, segments, late, degraded
FROM {db}.kafka_{pipeline_ident}_{scores_ident}
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_{scores_ident}_errors_mv TO {db}.dlq AS
SELECT
    '{pipeline}' AS pipeline, _topic AS source_topic, toInt32(_partition) AS `partition`,
    toInt64(_offset) AS `offset`, base64Encode(ifNull(_key, '')) AS key,
    base64Encode(_raw_message) AS value, 'sink_decode' AS error_class, _error AS reason,
    now64(3) AS ts, CAST(NULL, 'Nullable(Int32)') AS schema_id
FROM {db}.kafka_{pipeline_ident}_{scores_ident}
WHERE length(_error) > 0;
