-- Refused events with their original bytes and a reason; one row per source message.
CREATE TABLE IF NOT EXISTS dead_letters
(
    event_id String,
    org_id LowCardinality(String),
    source_system LowCardinality(String),
    stage LowCardinality(String),
    reason_code LowCardinality(String),
    reason String,
    source_topic LowCardinality(String),
    source_partition UInt32,
    source_offset UInt64,
    failed_at DateTime64(3, 'UTC'),
    original String
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset)
SETTINGS non_replicated_deduplication_window = 1000;
