-- Corrections (docs/corrections.md): a data manager voids contacts, or undoes a void, by event
-- ids, canvasser and time range, source and time range, or import run. Each correction is a
-- Kafka event (contacts.corrections) stored here as it came; the ledger keeper applies it.
CREATE TABLE IF NOT EXISTS corrections
(
    correction_id String,
    org_id LowCardinality(String),
    action LowCardinality(String),
    campaign_id String,
    event_ids Array(String),
    canvasser_id String,
    source_system String,
    import_run String,
    time_from Nullable(DateTime64(3, 'UTC')),
    time_to Nullable(DateTime64(3, 'UTC')),
    undo String,
    reason String,
    requested_by String,
    requested_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, correction_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Why a stored contact is not counted: voided by a correction (kind 'void', ref = the
-- correction) or folded into the same contact from another path (kind 'fold', ref = the event
-- it was folded into). One row per event and kind; the newest decision wins (version: for a
-- void, the time the correction was requested, so the last correction asked for wins whatever
-- order they are applied in). active = 0 is a void undone, or a fold taken back.
CREATE TABLE IF NOT EXISTS contact_suppressions
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    event_id String,
    kind LowCardinality(String),
    active UInt8,
    ref String,
    reason String,
    requested_by String,
    version UInt64,
    decided_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, campaign_id, event_id, kind)
SETTINGS non_replicated_deduplication_window = 1000;

-- Every event that counts nowhere: voided or folded, now.
CREATE VIEW IF NOT EXISTS suppressed_events AS
SELECT org_id, campaign_id, event_id, groupUniqArray(kind) AS kinds
FROM contact_suppressions FINAL
WHERE active = 1
GROUP BY org_id, campaign_id, event_id;

-- The contacts that count: every stored contact (its latest copy) but the voided, the folded
-- and the work quality holds out (sinks/ddl/020_quality.sql: a quarantined flag no one approved
-- yet, or a voided flag). Every rollup and board equals a recount over this view; it replaces
-- the quality-only view of 020 (one definition of what counts, sinks/ledger.py counted_sql).
CREATE OR REPLACE VIEW contact_events_counted AS
SELECT *, attempt_key
FROM contact_events FINAL
WHERE (org_id, campaign_id, event_id) NOT IN
    (SELECT org_id, campaign_id, event_id FROM suppressed_events)
    AND event_id NOT IN (SELECT event_id FROM quality_held_events);

-- Voided contacts, queryable with the correction that voided them and why.
CREATE VIEW IF NOT EXISTS contact_events_voided AS
SELECT e.*, s.ref AS correction_id, s.reason AS void_reason, s.requested_by AS voided_by,
    s.decided_at AS voided_at
FROM contact_events AS e FINAL
INNER JOIN
(
    SELECT org_id, campaign_id, event_id, ref, reason, requested_by, decided_at
    FROM contact_suppressions FINAL
    WHERE kind = 'void' AND active = 1
) AS s ON e.org_id = s.org_id AND e.campaign_id = s.campaign_id AND e.event_id = s.event_id;

-- Contacts that arrived by two paths, and which copy was kept.
CREATE VIEW IF NOT EXISTS contact_folds AS
SELECT org_id, campaign_id, event_id AS folded_event_id, ref AS kept_event_id, reason,
    decided_at
FROM contact_suppressions FINAL
WHERE kind = 'fold' AND active = 1;

-- Each correction with the selector it applies: an undo takes the selector of the void it
-- undoes. A correction whose selector is empty, or undoes a void not stored, matches nothing.
CREATE VIEW IF NOT EXISTS corrections_resolved AS
SELECT
    c.correction_id AS correction_id,
    toString(c.org_id) AS org_id,
    toString(c.action) AS action,
    if(c.undo = '', c.campaign_id, u.campaign_id) AS campaign_id,
    if(c.undo = '', c.event_ids, u.event_ids) AS event_ids,
    if(c.undo = '', c.canvasser_id, u.canvasser_id) AS canvasser_id,
    if(c.undo = '', c.source_system, u.source_system) AS source_system,
    if(c.undo = '', c.import_run, u.import_run) AS import_run,
    if(c.undo = '', c.time_from, u.time_from) AS time_from,
    if(c.undo = '', c.time_to, u.time_to) AS time_to,
    c.undo AS undo,
    c.reason AS reason,
    c.requested_by AS requested_by,
    c.requested_at AS requested_at,
    toUInt64(toUnixTimestamp64Milli(c.requested_at)) AS version
FROM corrections AS c FINAL
LEFT JOIN (SELECT * FROM corrections FINAL) AS u
    ON c.undo = u.correction_id AND c.org_id = u.org_id
WHERE (c.undo = '' OR u.correction_id != '')
    AND (notEmpty(event_ids) OR import_run != '' OR
         (time_from IS NOT NULL AND time_to IS NOT NULL AND
          (canvasser_id != '' OR source_system != '')));
