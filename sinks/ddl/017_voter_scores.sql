-- Models for data managers (fieldstream model support | turnout; fieldstream/models): a score per
-- voter per model run, and each run's validation. A run becomes current for its org and model
-- only when its row in model_runs is written, after every score is in, so a failed run is never
-- seen; both tables carry org_id, so row policies keep each org to its own runs.
CREATE TABLE IF NOT EXISTS voter_scores
(
    org_id LowCardinality(String),
    model LowCardinality(String),
    run_id String,
    state LowCardinality(String),
    voter_id String,
    score Float32,
    scored_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(scored_at)
ORDER BY (org_id, model, run_id, state, voter_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS model_runs
(
    org_id LowCardinality(String),
    model LowCardinality(String),
    run_id String,
    label String,
    features Array(String),
    estimator String,
    labelled UInt64,
    positives UInt64,
    folds UInt8,
    cv_auc Float64,
    cv_auc_sd Float64,
    cv_accuracy Float64,
    baseline_accuracy Float64,
    cv_brier Float64,
    baseline_brier Float64,
    cv_log_loss Float64,
    baseline_log_loss Float64,
    calibration String,
    scored UInt64,
    trained_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(finished_at)
ORDER BY (org_id, model, run_id);

-- The newest finished run of each org and model.
CREATE VIEW IF NOT EXISTS model_runs_current AS
SELECT *
FROM model_runs FINAL
WHERE (toString(org_id), toString(model), run_id) IN
(
    SELECT toString(org_id), toString(model), argMax(run_id, finished_at)
    FROM model_runs
    GROUP BY org_id, model
);

-- Each voter's score from the current run of each org and model.
CREATE VIEW IF NOT EXISTS voter_scores_current AS
SELECT
    toString(s.org_id) AS org_id,
    toString(s.model) AS model,
    s.run_id AS run_id,
    toString(s.state) AS state,
    s.voter_id AS voter_id,
    s.score AS score,
    s.scored_at AS scored_at
FROM voter_scores AS s FINAL
WHERE (toString(s.org_id), toString(s.model), s.run_id) IN
(
    SELECT toString(org_id), toString(model), argMax(run_id, finished_at)
    FROM model_runs
    GROUP BY org_id, model
);
