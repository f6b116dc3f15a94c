-- time_range (query v1): how many predictions (every model's, deduplicated: FINAL) and the first
-- and last event time (ms). Params: pipeline, run_id.
SELECT
    count() AS n,
    toUnixTimestamp64Milli(min(event_ts)) AS min_ms,
    toUnixTimestamp64Milli(max(event_ts)) AS max_ms
FROM {db}.predictions FINAL
WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
  AND ({run_id:String} = '' OR run_id = {run_id:String})
