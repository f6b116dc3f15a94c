-- One delayed label per event (from <p>.labels). Key: (pipeline, event_id); the first one wins.
CREATE TABLE IF NOT EXISTS {db}.labels
(
    pipeline    LowCardinality(String),
    event_id    String,
    label       Float64,
    label_ts    DateTime64(3, 'UTC'),
    source      Nullable(String),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(label_ts)
ORDER BY (pipeline, event_id)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: labels, deduplicated by (pipeline, event_id)';
