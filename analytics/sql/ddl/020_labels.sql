-- One delayed label per event (from <p>.labels). Key: (pipeline, event_id); the first one wins.
-- `partition`/`offset`: the label's position in <p>.labels, so that a replay from this table
-- orders labels with the same label_ts as the topic did. -1/-1: no position (rows written before
-- these columns existed, or by a writer that does not know it); a replay puts them first among
-- their label_ts ties, by event_id.
CREATE TABLE IF NOT EXISTS {db}.labels
(
    pipeline    LowCardinality(String),
    event_id    String,
    label       Float64,
    label_ts    DateTime64(3, 'UTC'),
    source      Nullable(String),
    `partition` Int32 DEFAULT -1,
    `offset`    Int64 DEFAULT -1,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(label_ts)
ORDER BY (pipeline, event_id)
TTL toDateTime(inserted_at) + toIntervalDay({ttl_days})
COMMENT 'eddy schema v1: labels, deduplicated by (pipeline, event_id)';

-- Tables created before the label positions existed: add them (a no-op once they are there).
-- Their old rows read back as -1/-1 (no position).
ALTER TABLE {db}.labels
    ADD COLUMN IF NOT EXISTS `partition` Int32 DEFAULT -1 AFTER source,
    ADD COLUMN IF NOT EXISTS `offset` Int64 DEFAULT -1 AFTER `partition`;
