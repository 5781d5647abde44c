-- Held contacts: what the dead letters still hold back, so nobody takes a partial count for a
-- complete one. A partial contact (its result mapped, some survey responses not) is counted and
-- keeps the tool's own ids of the answers it could not read; its dead letter says so (counted,
-- kept as the max over its arrivals: once partial, its answers are held until they land).
ALTER TABLE contact_events
    ADD COLUMN IF NOT EXISTS unmapped_responses Nested(question String, answer String, reason_code String);
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS counted SimpleAggregateFunction(max, UInt8) DEFAULT 0;

-- Every dead letter (one row per dead_letter_id) with the contact it holds (held_key: its event
-- id, or the letter's own id when it has none) and where it came in (origin:
-- gateway:<source id>, import:<name>, or the stream's topic), for the views below and
-- `fieldstream dlq`.
CREATE VIEW IF NOT EXISTS held_letters AS
SELECT
    if(event_id != '', event_id, dead_letter_id) AS held_key,
    dead_letter_id,
    splitByChar('@', source_topic)[1] AS origin,
    event_id,
    org_id,
    source_system,
    stage,
    reason_code,
    reason,
    source_topic,
    first_failed_at,
    failed_at,
    arrivals,
    original,
    counted
FROM
(
    SELECT
        dead_letter_id,
        any(event_id) AS event_id,
        any(org_id) AS org_id,
        any(source_system) AS source_system,
        any(stage) AS stage,
        anyLast(reason_code) AS reason_code,
        anyLast(reason) AS reason,
        anyLast(source_topic) AS source_topic,
        min(first_failed_at) AS first_failed_at,
        max(failed_at) AS failed_at,
        sum(arrivals) AS arrivals,
        anyLast(original) AS original,
        max(counted) AS counted
    FROM dead_letters
    GROUP BY dead_letter_id
);

-- One row per contact still held: every letter of one event id is one held contact (the same
-- contact refused at the gateway, then by the stream); a letter without an event id is a
-- contact of its own. The reason is the latest letter's. A contact stops being held once it
-- landed in contact_events complete (no unmapped responses), or landed at all when none of its
-- letters was a partial one.
--   counted   1: the contact is in contact_events (only its unmapped answers are held)
--             0: the whole contact is held back
--   origin    where it came in: gateway:<source id>, import:<name>, or the stream's topic
--   source    the source id (gateway), import:<name> (importers), else the tool
--   received_at  when the contact first arrived (its first letter): a replay keeps it
CREATE VIEW IF NOT EXISTS held_contacts AS
WITH
    letters AS (
        SELECT
            held_key,
            any(event_id) AS held_event_id,
            argMax(org_id, failed_at) AS last_org_id,
            argMax(source_system, failed_at) AS last_source_system,
            argMax(stage, failed_at) AS last_stage,
            argMax(reason_code, failed_at) AS last_reason_code,
            argMax(reason, failed_at) AS last_reason,
            argMax(origin, failed_at) AS last_origin,
            argMaxIf(origin, failed_at, stage = 'gateway') AS gateway_origin,
            max(counted) AS ever_partial,
            min(first_failed_at) AS first_failed_at,
            max(failed_at) AS last_failed_at,
            sum(arrivals) AS all_arrivals
        FROM held_letters
        GROUP BY held_key
    ),
    landed AS (
        SELECT event_id, 1 AS landed, max(empty(unmapped_responses.question)) AS complete
        FROM contact_events
        WHERE event_id IN (SELECT event_id FROM dead_letters WHERE event_id != '')
        GROUP BY event_id
    )
SELECT
    held_key,
    held_event_id AS event_id,
    last_org_id AS org_id,
    last_source_system AS source_system,
    if(gateway_origin != '', gateway_origin, last_origin) AS origin,
    multiIf(
        startsWith(origin, 'gateway:'), substring(origin, 9),
        startsWith(origin, 'import:'), origin,
        last_source_system
    ) AS source,
    last_stage AS stage,
    last_reason_code AS reason_code,
    last_reason AS reason,
    landed.landed = 1 AS counted,
    first_failed_at AS received_at,
    last_failed_at,
    all_arrivals AS arrivals
FROM letters
LEFT JOIN landed ON letters.held_event_id = landed.event_id
WHERE held_event_id = ''
   OR NOT (landed.complete = 1 OR (landed.landed = 1 AND ever_partial = 0));

-- Held contacts per source and reason: the board's and Grafana's "held back" panel.
CREATE VIEW IF NOT EXISTS held_by_source AS
SELECT
    org_id,
    source,
    reason_code,
    countIf(NOT counted) AS held_whole,
    countIf(counted) AS counted_partial,
    max(last_failed_at) AS last_failed_at
FROM held_contacts
GROUP BY org_id, source, reason_code;
