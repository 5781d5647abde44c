-- The store is the ledger: exactness may not depend on the broker remembering anything.
--
-- contact_events.stored_by: the sink batch (its insert token) that stored the row. The sink
-- drops a contact whose event id is already stored by another batch before it inserts (the
-- first stored copy wins, whatever enrichment later copies got), and keeps a retried batch
-- identical, so a retry still reaches a materialized view that missed it.
ALTER TABLE contact_events ADD COLUMN IF NOT EXISTS stored_by String DEFAULT '';

-- Dead letters keyed by what they are (dead_letter_id: stage and event id, or stage and a
-- digest of the original bytes), not by where they were read: one bad event sent ten times
-- is one row with arrivals = 10, and a broker that starts its offsets again at 0 replaces
-- nothing. Read it with FINAL (one row per dead letter, arrivals summed).
RENAME TABLE dead_letters TO dead_letters_by_position;

CREATE TABLE IF NOT EXISTS dead_letters
(
    dead_letter_id String,
    event_id SimpleAggregateFunction(any, String),
    org_id SimpleAggregateFunction(any, String),
    source_system SimpleAggregateFunction(any, String),
    stage SimpleAggregateFunction(any, String),
    reason_code SimpleAggregateFunction(anyLast, String),
    reason SimpleAggregateFunction(anyLast, String),
    source_topic SimpleAggregateFunction(anyLast, String),
    source_partition SimpleAggregateFunction(anyLast, Int64),
    source_offset SimpleAggregateFunction(anyLast, Int64),
    first_failed_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    failed_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    arrivals SimpleAggregateFunction(sum, UInt64),
    original SimpleAggregateFunction(anyLast, String)
)
ENGINE = AggregatingMergeTree
ORDER BY dead_letter_id
SETTINGS non_replicated_deduplication_window = 1000;

INSERT INTO dead_letters
SELECT
    if(event_id != '',
       concat(toString(stage), ':', event_id),
       concat(toString(stage), ':sha256:',
              substring(lower(hex(SHA256(concat(original, '\x1f', toString(reason_code), '\x1f0')))), 1, 40))
    ) AS dead_letter_id,
    event_id,
    toString(org_id),
    toString(source_system),
    toString(stage),
    toString(reason_code),
    reason,
    toString(source_topic),
    toInt64(source_partition),
    toInt64(source_offset),
    failed_at,
    failed_at,
    toUInt64(1),
    original
FROM dead_letters_by_position FINAL;

DROP TABLE dead_letters_by_position;
