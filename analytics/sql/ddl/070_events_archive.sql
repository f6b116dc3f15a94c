-- Original event bytes (Confluent wire format, base64) for replay beyond Kafka retention.
CREATE TABLE IF NOT EXISTS {db}.events_archive
(
    pipeline    LowCardinality(String),
    event_id    String,
    event_ts    DateTime64(3, 'UTC'),
    topic       String,
    `partition` Int32,
    `offset`    Int64,
    payload     String,
    schema_id   Int32,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(event_ts)
ORDER BY (pipeline, event_id)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: event archive (payload base64 of the original bytes), deduplicated by (pipeline, event_id)';
