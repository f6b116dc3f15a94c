-- Dead letters (from <p>.dlq): original key/value bytes as base64, never dropped.
CREATE TABLE IF NOT EXISTS {db}.dlq
(
    pipeline     LowCardinality(String),
    source_topic String,
    `partition`  Int32,
    `offset`     Int64,
    key          String,
    value        String,
    error_class  LowCardinality(String),
    reason       String,
    ts           DateTime64(3, 'UTC'),
    schema_id    Nullable(Int32),
    inserted_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (source_topic, `partition`, `offset`)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: dead letters (key/value base64), deduplicated by (source_topic, partition, offset)';
