-- calibration (query v1): reliability curve per model and time bucket of event time.
-- Params: pipeline, run_id, from_ms, to_ms, bucket_ms, n_bins.
-- bin = min(floor(max(prediction, 0) * n_bins), n_bins - 1); bin b covers [b/n_bins, (b+1)/n_bins).
-- A calibrated model has observed_rate ~= mean_prediction in every bin.
SELECT
    run_id,
    model,
    intDiv(toUnixTimestamp64Milli(event_ts), {bucket_ms:Int64}) * {bucket_ms:Int64} AS bucket_ms,
    least(toUInt32(floor(greatest(prediction, 0) * {n_bins:UInt32})), {n_bins:UInt32} - 1) AS bin,
    bin / {n_bins:UInt32} AS bin_lower,
    (bin + 1) / {n_bins:UInt32} AS bin_upper,
    count() AS n,
    avg(prediction) AS mean_prediction,
    avg(y) AS observed_rate
FROM {db}.labelled_predictions
WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
  AND ({run_id:String} = '' OR run_id = {run_id:String})
  AND event_ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND event_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY run_id, model, bucket_ms, bin
ORDER BY run_id, model, bucket_ms, bin
