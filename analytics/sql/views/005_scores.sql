-- scores (view v1)
-- The scores downstream services received: champion predictions only (no shadow challengers,
-- no baseline), deduplicated (FINAL). One row per (run, event). Filter on run_id: the live run
-- of pipeline p is '<p>-live'; replays write under their own run ids.
CREATE OR REPLACE VIEW {db}.scores AS
SELECT * FROM {db}.predictions FINAL WHERE shadow = 0
COMMENT 'eddy view v1: champion scores per run and event';
