-- segment_metrics (query v1): model quality and fairness per segment value, with disparity.
-- Params: pipeline, run_id, from_ms, to_ms, bucket_ms (time buckets of event time; a huge
--         value gives one bucket), threshold, segments (Array(String): segment names,
--         keys of the predictions' `segments` map; an event without the key counts under ''),
--         min_count (segment values with fewer rows are reported but are never the "best"
--         reference and are ranked after the others).
-- Per (run_id, model, bucket_ms, segment, segment_value), with y = label >= 0.5, yhat = prediction >= threshold:
--   tpr = tp/(tp+fn), fpr = fp/(fp+tn), precision = tp/(tp+fp), selection_rate = (tp+fp)/n,
--   accuracy, log_loss, roc_auc, bias as in model_metrics.
-- Disparity, for m in (tpr, fpr, precision, selection_rate):
--   m_diff_overall = m - m(all rows of the run/model), m_ratio_overall = m / m(all rows)
--   m_diff_best    = m - m(best segment value), m_ratio_best = m / m(best segment value),
--   where best = highest tpr, lowest fpr, highest precision, highest selection_rate
--   (the four-fifths rule reads selection_rate_ratio_best < 0.8).
--   disparity  = max(|tpr_diff_overall|, |fpr_diff_overall|, |precision_diff_overall|,
--                    |selection_rate_diff_overall|)   (NULL differences count as 0)
--   rank_worst = 1 for the segment value with the largest disparity within (run, model, bucket, segment).
SELECT
    *,
    row_number() OVER (PARTITION BY run_id, model, bucket_ms, segment
                       ORDER BY n >= {min_count:UInt32} DESC, disparity DESC, segment_value) AS rank_worst
FROM
(
    SELECT
        *,
        tpr - overall_tpr AS tpr_diff_overall,
        tpr / nullIf(overall_tpr, 0) AS tpr_ratio_overall,
        tpr - best_tpr AS tpr_diff_best,
        tpr / nullIf(best_tpr, 0) AS tpr_ratio_best,
        fpr - overall_fpr AS fpr_diff_overall,
        fpr / nullIf(overall_fpr, 0) AS fpr_ratio_overall,
        fpr - best_fpr AS fpr_diff_best,
        fpr / nullIf(best_fpr, 0) AS fpr_ratio_best,
        precision - overall_precision AS precision_diff_overall,
        precision / nullIf(overall_precision, 0) AS precision_ratio_overall,
        precision - best_precision AS precision_diff_best,
        precision / nullIf(best_precision, 0) AS precision_ratio_best,
        selection_rate - overall_selection_rate AS selection_rate_diff_overall,
        selection_rate / nullIf(overall_selection_rate, 0) AS selection_rate_ratio_overall,
        selection_rate - best_selection_rate AS selection_rate_diff_best,
        selection_rate / nullIf(best_selection_rate, 0) AS selection_rate_ratio_best,
        greatest(abs(coalesce(tpr_diff_overall, 0)), abs(coalesce(fpr_diff_overall, 0)),
                 abs(coalesce(precision_diff_overall, 0)),
                 abs(coalesce(selection_rate_diff_overall, 0))) AS disparity
    FROM
    (
        SELECT
            *,
            tp / nullIf(tp + fn, 0) AS tpr,
            fp / nullIf(fp + tn, 0) AS fpr,
            tp / nullIf(tp + fp, 0) AS precision,
            (tp + fp) / n AS selection_rate,
            (tp + tn) / n AS accuracy,
            sum(n) OVER seg AS overall_n,
            sum(tp) OVER seg / nullIf(sum(tp + fn) OVER seg, 0) AS overall_tpr,
            sum(fp) OVER seg / nullIf(sum(fp + tn) OVER seg, 0) AS overall_fpr,
            sum(tp) OVER seg / nullIf(sum(tp + fp) OVER seg, 0) AS overall_precision,
            sum(tp + fp) OVER seg / sum(n) OVER seg AS overall_selection_rate,
            maxIf(tp / nullIf(tp + fn, 0), n >= {min_count:UInt32}) OVER seg AS best_tpr,
            minIf(fp / nullIf(fp + tn, 0), n >= {min_count:UInt32}) OVER seg AS best_fpr,
            maxIf(tp / nullIf(tp + fp, 0), n >= {min_count:UInt32}) OVER seg AS best_precision,
            -- OrNull: no value with min_count rows gives NULL (as the other bests), not 0
            maxIfOrNull((tp + fp) / n, n >= {min_count:UInt32}) OVER seg AS best_selection_rate
        FROM
        (
            SELECT
                run_id,
                model,
                bucket_ms,
                segment,
                segments[segment] AS segment_value,
                count() AS n,
                sum(y) AS positives,
                countIf(yhat = 1 AND y = 1) AS tp,
                countIf(yhat = 1 AND y = 0) AS fp,
                countIf(yhat = 0 AND y = 1) AS fn,
                countIf(yhat = 0 AND y = 0) AS tn,
                avg(prediction) - avg(label) AS bias,
                -avg(y * log(pc) + (1 - y) * log(1 - pc)) AS log_loss,
                arrayAUC(groupArray(prediction), groupArray(y)) AS roc_auc
            FROM
            (
                SELECT
                    run_id, model, segments, prediction, label, y,
                    intDiv(toUnixTimestamp64Milli(event_ts), {bucket_ms:Int64}) * {bucket_ms:Int64} AS bucket_ms,
                    greatest(least(prediction, 1 - 1e-15), 1e-15) AS pc,
                    toUInt8(prediction >= {threshold:Float64}) AS yhat
                FROM {db}.labelled_predictions
                WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
                  AND ({run_id:String} = '' OR run_id = {run_id:String})
                  AND event_ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
                  AND event_ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
            )
            ARRAY JOIN {segments:Array(String)} AS segment
            GROUP BY run_id, model, bucket_ms, segment, segment_value
        )
        WINDOW seg AS (PARTITION BY run_id, model, bucket_ms, segment)
    )
)
ORDER BY run_id, model, bucket_ms, segment, rank_worst
