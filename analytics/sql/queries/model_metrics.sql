-- model_metrics (query v1): quality of each model per time bucket of event time.
-- Params: pipeline, run_id ('' = all), from_ms, to_ms (event time range, ms),
--         bucket_ms (bucket width; buckets start at multiples of it), threshold.
-- Definitions (y = label >= 0.5, yhat = prediction >= threshold):
--   accuracy   = mean(yhat = y)
--   log_loss   = -mean(y ln p + (1 - y) ln(1 - p)), p = prediction clipped to [1e-15, 1 - 1e-15]
--   roc_auc    = arrayAUC(prediction, y): area under the ROC curve, tied scores count 1/2
--                (= the Mann-Whitney rank formula with average ranks); NULL with one class only
--   precision  = tp / (tp + fp), recall = tp / (tp + fn), f1 = 2 tp / (2 tp + fp + fn)
--   bias       = mean(prediction) - mean(label)
--   mae        = mean(|prediction - label|), rmse = sqrt(mean((prediction - label)^2)): the
--                figures of regression tasks (where y, accuracy, log loss and AUC mean nothing);
--                for a binary task rmse^2 is the Brier score
--   class_accuracy = mean(predicted_label is the label's class): the figure of multiclass tasks.
--                The learner's text of a class is its number's shortest exact text (2.0 -> '2',
--                2.5e-05 -> '2.5e-05', 1e22 -> '10000000000000000000000'), so a predicted class
--                is read back as a number and compared with the label: ClickHouse's toString
--                writes some numbers otherwise ('0.000025', '1e22'). A row predicted no class
--                counts as wrong; NULL when no row of the group has a predicted_label (binary
--                and regression tasks)
SELECT
    run_id,
    model,
    intDiv(toUnixTimestamp64Milli(event_ts), {bucket_ms:Int64}) * {bucket_ms:Int64} AS bucket_ms,
    count() AS n,
    sum(y) AS positives,
    avg(prediction) AS mean_prediction,
    avg(label) AS mean_label,
    avg(prediction) - avg(label) AS bias,
    avg(abs(prediction - label)) AS mae,
    sqrt(avg((prediction - label) * (prediction - label))) AS rmse,
    avg(yhat = y) AS accuracy,
    if(countIf(predicted_label IS NOT NULL) = 0, NULL, avg(ifNull(toFloat64OrNull(predicted_label) = label, 0))) AS class_accuracy,
    -avg(y * log(pc) + (1 - y) * log(1 - pc)) AS log_loss,
    arrayAUC(groupArray(prediction), groupArray(y)) AS roc_auc,
    countIf(yhat = 1 AND y = 1) AS tp,
    countIf(yhat = 1 AND y = 0) AS fp,
    countIf(yhat = 0 AND y = 1) AS fn,
    countIf(yhat = 0 AND y = 0) AS tn,
    tp / nullIf(tp + fp, 0) AS precision,
    tp / nullIf(tp + fn, 0) AS recall,
    2 * tp / nullIf(2 * tp + fp + fn, 0) AS f1
FROM
(
    SELECT
        run_id, model, event_ts, prediction, predicted_label, label, y,
        greatest(least(prediction, 1 - 1e-15), 1e-15) AS pc,
        toUInt8(prediction >= {threshold:Float64}) AS yhat
    FROM {db}.labelled_predictions
    WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
      AND ({run_id:String} = '' OR run_id = {run_id:String})
      AND event_ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
      AND event_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
)
GROUP BY run_id, model, bucket_ms
ORDER BY run_id, model, bucket_ms
