-- The write-back to VAN: the latest state of each contact it handles (sinks/writeback publishes
-- every change; the highest version wins). "In VAN" = posted or passed. No personal data.
CREATE TABLE IF NOT EXISTS van_writeback
(
    event_id String,
    org_id LowCardinality(String),
    source_system LowCardinality(String),
    campaign_id LowCardinality(String),
    state LowCardinality(String),
    attempts UInt32,
    van_status Nullable(UInt16),
    error_code LowCardinality(Nullable(String)),
    rejected_by LowCardinality(Nullable(String)),
    received_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, source_system, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
