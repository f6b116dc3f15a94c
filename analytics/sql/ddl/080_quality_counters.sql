-- Data-quality counters (late, orphan labels, DLQ by class, ...): value counted at ts.
CREATE TABLE IF NOT EXISTS {db}.quality_counters
(
    ts          DateTime64(3, 'UTC'),
    pipeline    LowCardinality(String),
    run_id      String,
    counter     LowCardinality(String),
    value       Int64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (pipeline, run_id, counter, ts)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: quality counters, deduplicated by (pipeline, run_id, counter, ts)';
