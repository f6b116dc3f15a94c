-- label_delays (view v1)
-- One row per labelled event (champion rows, so each event once): how late its label came.
CREATE OR REPLACE VIEW {db}.label_delays AS
SELECT pipeline, run_id, event_id, event_ts, label_ts, label_delay_ms
FROM {db}.labelled_predictions
WHERE role = 'champion'
COMMENT 'eddy view v1: label delay per labelled event';
