-- Monitoring alerts (drift, lost state, ...), from <p>.alerts.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    pipeline    LowCardinality(String),
    run_id      String,
    model       LowCardinality(String),
    kind        LowCardinality(String),
    ts          DateTime64(3, 'UTC'),
    value       Float64,
    action      LowCardinality(String) DEFAULT 'none',
    detail      String DEFAULT '',
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (pipeline, run_id, model, kind, ts)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: alerts, deduplicated by (pipeline, run_id, model, kind, ts)';
