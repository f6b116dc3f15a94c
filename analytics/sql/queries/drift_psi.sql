-- drift_psi (query v1): Population Stability Index of each feature, each model's predictions
-- and the labels, between a reference window and each later window.
-- Params: pipeline, run_id, ref_from_ms, ref_to_ms (reference = [ref_from, ref_to)),
--         window_ms, to_ms (later windows: [ref_to + k*window_ms, ref_to + (k+1)*window_ms),
--         k = 0, 1, ... up to to_ms), psi_threshold (drifted = psi >= psi_threshold).
-- Exact definition:
--   edges  = the distinct values of the reference deciles q(0.1), ..., q(0.9), where q is
--            quantileExactInclusive (linear interpolation, = numpy.quantile(method="linear"))
--   bin(x) = number of edges strictly below x  (bins (-inf, e1], (e1, e2], ..., (e_k, +inf))
--   p_i    = max(count_i / n, 1e-4) for the reference (p) and the window (q): empty bins get
--            epsilon 1e-4, proportions are not renormalised
--   psi    = sum_i (q_i - p_i) * ln(q_i / p_i)
-- Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
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
    edges AS
    (
        SELECT
            kind, name, count() AS n_ref,
            arraySort(arrayDistinct(quantilesExactInclusive(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)(value))) AS e
        FROM ref
        GROUP BY kind, name
    ),
    ref_bins AS
    (
        SELECT kind, name, toUInt32(arrayCount(x -> (x < value), e)) AS bin, count() AS c
        FROM ref INNER JOIN edges USING (kind, name)
        GROUP BY kind, name, bin
    ),
    win_bins AS
    (
        SELECT kind, name, window_ms, toUInt32(arrayCount(x -> (x < value), e)) AS bin, count() AS c
        FROM win INNER JOIN edges USING (kind, name)
        GROUP BY kind, name, window_ms, bin
    ),
    grid AS
    (
        SELECT kind, name, window_ms, n, n_ref, toUInt32(arrayJoin(range(length(e) + 1))) AS bin
        FROM (SELECT kind, name, window_ms, count() AS n FROM win GROUP BY kind, name, window_ms) AS wn
        INNER JOIN edges USING (kind, name)
    )
SELECT
    kind,
    name,
    window_ms,
    any(n_ref) AS n_ref,
    any(n) AS n,
    sum((pw - pr) * log(pw / pr)) AS psi,
    psi >= {psi_threshold:Float64} AS drifted
FROM
(
    SELECT
        g.kind AS kind, g.name AS name, g.window_ms AS window_ms, g.n AS n, g.n_ref AS n_ref,
        greatest(ifNull(rb.c, 0) / g.n_ref, 1e-4) AS pr,
        greatest(ifNull(wb.c, 0) / g.n, 1e-4) AS pw
    FROM grid AS g
    LEFT JOIN ref_bins AS rb ON rb.kind = g.kind AND rb.name = g.name AND rb.bin = g.bin
    LEFT JOIN win_bins AS wb ON wb.kind = g.kind AND wb.name = g.name AND wb.window_ms = g.window_ms AND wb.bin = g.bin
)
GROUP BY kind, name, window_ms
ORDER BY kind, name, window_ms
