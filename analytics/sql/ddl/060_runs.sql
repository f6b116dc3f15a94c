-- One row per run (live or replay): everything needed to reproduce it. No TTL: runs are small
-- and a replay must find its run's config long after the predictions have expired.
CREATE TABLE IF NOT EXISTS {db}.runs
(
    run_id       String,
    pipeline     LowCardinality(String),
    kind         LowCardinality(String),
    created_at   DateTime64(3, 'UTC'),
    config_yaml  String,
    config_hash  String,
    code_version String,
    packages     Map(String, String),
    schema_ids   Map(String, Int32),
    seeds        Map(String, Int64),
    inputs       String DEFAULT '{}',
    like_run     Nullable(String),
    inserted_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(created_at)
ORDER BY run_id
COMMENT 'eddy schema v1: runs (kind live|replay), deduplicated by run_id';
