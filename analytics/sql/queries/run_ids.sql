-- run_ids (query v1): the runs that have predictions, oldest first. Params: pipeline.
SELECT run_id, toUnixTimestamp64Milli(min(served_ts)) AS first_ms, count() AS n
FROM {db}.predictions
WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
GROUP BY run_id
ORDER BY first_ms, run_id
