-- Changes to a pipeline's model set (from <p>.model-events): created, snapshot, promote, ...
CREATE TABLE IF NOT EXISTS {db}.model_events
(
    pipeline    LowCardinality(String),
    run_id      String,
    model       LowCardinality(String),
    version     UInt32,
    action      LowCardinality(String),
    ts          DateTime64(3, 'UTC'),
    detail      String DEFAULT '',
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (pipeline, run_id, model, version, action, ts)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: model events, deduplicated by (pipeline, run_id, model, version, action, ts)';
