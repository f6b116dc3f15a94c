-- Kafka engine: <pipeline>.model-events (ModelEvent records) -> model_events.
-- Alerts have their own topic, <pipeline>.alerts (035_alerts.sql).
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
