-- alerts (query v1): alerts in a time range. Params: pipeline, run_id, from_ms, to_ms.
SELECT pipeline, run_id, model, kind, toUnixTimestamp64Milli(ts) AS ts_ms, value, action, detail
FROM {db}.alerts FINAL
WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
  AND ({run_id:String} = '' OR run_id = {run_id:String})
  AND ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
ORDER BY ts_ms, model, kind
