-- Kafka engine: <pipeline>.model-events carries two record types (ModelEvent and Alert); one
-- Kafka table holds the union of their fields (missing fields read as defaults) and two views
-- split them: rows with a `kind` are alerts.
CREATE TABLE IF NOT EXISTS {db}.kafka_{pipeline_ident}_model_events
(
    pipeline String,
    run_id   String,
    model    String,
    version  Int32,
    action   String,
    ts       DateTime64(3, 'UTC'),
    detail   String,
    kind     String,
    value    Float64
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{brokers}',
         kafka_topic_list = '{pipeline}.model-events',
         kafka_group_name = '{group}',
         kafka_format = 'AvroConfluent',
         kafka_handle_error_mode = 'stream',
         input_format_avro_allow_missing_fields = 1,
         format_avro_schema_registry_url = '{registry_url}';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_model_events_mv TO {db}.model_events AS
SELECT pipeline, run_id, model, toUInt32(version) AS version, action, ts, detail
FROM {db}.kafka_{pipeline_ident}_model_events
WHERE length(_error) = 0 AND kind = '';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_alerts_mv TO {db}.alerts AS
SELECT pipeline, run_id, model, kind, ts, value, if(action = '', 'none', action) AS action, detail
FROM {db}.kafka_{pipeline_ident}_model_events
WHERE length(_error) = 0 AND kind != '';
