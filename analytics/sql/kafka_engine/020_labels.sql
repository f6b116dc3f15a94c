-- Kafka engine: <pipeline>.labels -> labels, with each label's topic position (replay orders ties by it).
CREATE TABLE IF NOT EXISTS {db}.kafka_{pipeline_ident}_labels
(
    event_id String,
    label    Float64,
    ts       DateTime64(3, 'UTC'),
    source   Nullable(String)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{brokers}',
         kafka_topic_list = '{pipeline}.labels',
         kafka_group_name = '{group}',
         kafka_format = 'AvroConfluent',
         kafka_handle_error_mode = 'stream',
         format_avro_schema_registry_url = '{registry_url}';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_{pipeline_ident}_labels_mv TO {db}.labels AS
SELECT '{pipeline}' AS pipeline, event_id, label, ts AS label_ts, source,
       toInt32(_partition) AS `partition`, toInt64(_offset) AS `offset`
FROM {db}.kafka_{pipeline_ident}_labels
WHERE length(_error) = 0;
