-- One prediction of one model for one event (from <p>.scores). Key: (run_id, model, event_id).
CREATE TABLE IF NOT EXISTS {db}.predictions
(
    run_id          String,
    pipeline        LowCardinality(String),
    model           LowCardinality(String),
    model_version   UInt32,
    role            LowCardinality(String),
    shadow          UInt8,
    event_id        String,
    key             String,
    event_ts        DateTime64(3, 'UTC'),
    served_ts       DateTime64(3, 'UTC'),
    latency_ms      Float64,
    prediction      Float64,
    predicted_label Nullable(String),
    features        Map(String, Float64),
    segments        Map(String, String),
    late            UInt8 DEFAULT 0,
    degraded        UInt8 DEFAULT 0,
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(event_ts)
ORDER BY (run_id, model, event_id)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: predictions, deduplicated by (run_id, model, event_id)';
