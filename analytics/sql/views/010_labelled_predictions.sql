-- labelled_predictions (view v1)
-- Every prediction (all runs, all models) that has a label, joined on (pipeline, event_id).
-- Both sides read FINAL, so a row the sink let through twice still counts once.
--   y               = 1 when label >= 0.5 (binary tasks: labels are class indexes 0/1)
--   label_delay_ms  = label_ts - event_ts (ms)
CREATE OR REPLACE VIEW {db}.labelled_predictions AS
SELECT
    p.run_id AS run_id,
    p.pipeline AS pipeline,
    p.model AS model,
    p.model_version AS model_version,
    p.role AS role,
    p.shadow AS shadow,
    p.event_id AS event_id,
    p.key AS key,
    p.event_ts AS event_ts,
    p.served_ts AS served_ts,
    p.prediction AS prediction,
    p.predicted_label AS predicted_label,
    p.features AS features,
    p.segments AS segments,
    p.late AS late,
    p.degraded AS degraded,
    l.label AS label,
    toUInt8(l.label >= 0.5) AS y,
    l.label_ts AS label_ts,
    l.source AS label_source,
    toUnixTimestamp64Milli(l.label_ts) - toUnixTimestamp64Milli(p.event_ts) AS label_delay_ms
FROM {db}.predictions AS p FINAL
INNER JOIN {db}.labels AS l FINAL ON l.pipeline = p.pipeline AND l.event_id = p.event_id
COMMENT 'eddy view v1: predictions joined with their labels';
