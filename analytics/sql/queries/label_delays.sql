-- label_delays (query v1): distribution of label delay (label_ts - event_ts, ms) per pipeline,
-- run and bucket of event time. Params: pipeline, run_id, from_ms, to_ms, bucket_ms.
-- Quantiles are exact (quantileExactInclusive, linear interpolation).
SELECT
    pipeline,
    run_id,
    intDiv(toUnixTimestamp64Milli(event_ts), {bucket_ms:Int64}) * {bucket_ms:Int64} AS bucket_ms,
    count() AS n,
    avg(label_delay_ms) AS mean_ms,
    min(label_delay_ms) AS min_ms,
    quantilesExactInclusive(0.5, 0.75, 0.9, 0.95, 0.99)(label_delay_ms) AS q,
    q[1] AS p50_ms,
    q[2] AS p75_ms,
    q[3] AS p90_ms,
    q[4] AS p95_ms,
    q[5] AS p99_ms,
    max(label_delay_ms) AS max_ms
FROM {db}.label_delays
WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
  AND ({run_id:String} = '' OR run_id = {run_id:String})
  AND event_ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND event_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY pipeline, run_id, bucket_ms
ORDER BY pipeline, run_id, bucket_ms
