-- drift_values (view v1)
-- Long form of everything whose distribution we watch, one row per (event, quantity):
--   kind = 'feature'    name = feature name, value = served feature value (champion rows only,
--                       so each event counts once whatever the number of models)
--   kind = 'prediction' name = model name,   value = prediction (every model)
--   kind = 'label'      name = 'label',      value = label, timed at the labelled event's ts
-- Non-finite values (NaN = missing feature) are left out.
CREATE OR REPLACE VIEW {db}.drift_values AS
SELECT pipeline, run_id, event_ts AS ts, 'feature' AS kind, name, value
FROM {db}.predictions FINAL
ARRAY JOIN mapKeys(features) AS name, mapValues(features) AS value
WHERE role = 'champion' AND isFinite(value)
UNION ALL
SELECT pipeline, run_id, event_ts AS ts, 'prediction' AS kind, toString(model) AS name, prediction AS value
FROM {db}.predictions FINAL
WHERE isFinite(prediction)
UNION ALL
SELECT pipeline, run_id, event_ts AS ts, 'label' AS kind, 'label' AS name, label AS value
FROM {db}.labelled_predictions
WHERE role = 'champion' AND isFinite(label)
COMMENT 'eddy view v1: long-form features, predictions and labels for drift';
