-- Goals per week (week_start is a Monday) and target universes, loaded from files.
CREATE TABLE IF NOT EXISTS goals
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    week_start Date,
    metric LowCardinality(String),
    target UInt64,
    loaded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (org_id, campaign_id, week_start, metric)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS universes
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    state String,
    voter_id String,
    loaded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (org_id, campaign_id, state, voter_id)
SETTINGS non_replicated_deduplication_window = 1000;
