-- drift_ks (query v1): two-sample Kolmogorov-Smirnov statistic between the reference window
-- and each later window, for the same quantities and windows as drift_psi.
-- Params: pipeline, run_id, ref_from_ms, ref_to_ms, window_ms, to_ms, alpha.
--   ks          = max over x of |F_ref(x) - F_win(x)| (empirical CDFs, evaluated at every
--                 distinct value of either sample, so ties are exact)
--   ks_critical = c(alpha) * sqrt((n_ref + n) / (n_ref * n)), c(alpha) = sqrt(-ln(alpha / 2) / 2)
--   drifted     = ks > ks_critical (asymptotic two-sample test at level alpha)
-- Cost: the reference is joined with every window at the level of distinct values.
WITH
    ref AS
    (
        SELECT kind, name, value
        FROM {db}.drift_values
        WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
          AND ({run_id:String} = '' OR run_id = {run_id:String})
          AND ts >= fromUnixTimestamp64Milli({ref_from_ms:Int64}, 'UTC')
          AND ts < fromUnixTimestamp64Milli({ref_to_ms:Int64}, 'UTC')
    ),
    win AS
    (
        SELECT
            kind, name, value,
            {ref_to_ms:Int64} + intDiv(toUnixTimestamp64Milli(ts) - {ref_to_ms:Int64}, {window_ms:Int64}) * {window_ms:Int64} AS window_ms
        FROM {db}.drift_values
        WHERE ({pipeline:String} = '' OR pipeline = {pipeline:String})
          AND ({run_id:String} = '' OR run_id = {run_id:String})
          AND ts >= fromUnixTimestamp64Milli({ref_to_ms:Int64}, 'UTC')
          AND ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
    ),
    ref_counts AS (SELECT kind, name, value, count() AS c FROM ref GROUP BY kind, name, value),
    windows AS (SELECT DISTINCT kind, name, window_ms FROM win),
    points AS
    (
        SELECT kind, name, window_ms, value, sum(c_ref) AS c_ref, sum(c_win) AS c_win
        FROM
        (
            SELECT w.kind AS kind, w.name AS name, w.window_ms AS window_ms, r.value AS value,
                   toUInt64(r.c) AS c_ref, toUInt64(0) AS c_win
            FROM windows AS w INNER JOIN ref_counts AS r ON r.kind = w.kind AND r.name = w.name
            UNION ALL
            SELECT kind, name, window_ms, value, toUInt64(0) AS c_ref, toUInt64(count()) AS c_win
            FROM win
            GROUP BY kind, name, window_ms, value
        )
        GROUP BY kind, name, window_ms, value
    )
SELECT
    kind,
    name,
    window_ms,
    any(tot_ref) AS n_ref,
    any(tot_win) AS n,
    max(abs(cum_ref / tot_ref - cum_win / tot_win)) AS ks,
    sqrt(-log({alpha:Float64} / 2) / 2) * sqrt((n_ref + n) / (n_ref * n)) AS ks_critical,
    ks > ks_critical AS drifted
FROM
(
    SELECT
        kind, name, window_ms,
        sum(c_ref) OVER w_cum AS cum_ref,
        sum(c_win) OVER w_cum AS cum_win,
        sum(c_ref) OVER w_all AS tot_ref,
        sum(c_win) OVER w_all AS tot_win
    FROM points
    WINDOW
        w_cum AS (PARTITION BY kind, name, window_ms ORDER BY value ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        w_all AS (PARTITION BY kind, name, window_ms)
)
WHERE tot_ref > 0
GROUP BY kind, name, window_ms
ORDER BY kind, name, window_ms
