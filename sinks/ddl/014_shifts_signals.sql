-- Volunteer shifts and person signals: their own tables, never contact attempts. Nothing here
-- feeds contact_events or its rollups, so a shift or a tag can never raise a contact count.

-- One row per state of a shift sign-up (volunteer.shifts). A state read again collapses on its
-- event_id, keeping the latest status_at; a sign-up's states are its history.
CREATE TABLE IF NOT EXISTS volunteer_shifts
(
    event_id String,
    source_system LowCardinality(String),
    source_event_id String,
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    shift_id String,
    state String,
    voter_id String,
    van_id String,
    state_file_id String,
    vendor_id String,
    volunteer_event_id String,
    event_type LowCardinality(String),
    team_id LowCardinality(String),
    shift_start Nullable(DateTime64(3, 'UTC')),
    shift_end Nullable(DateTime64(3, 'UTC')),
    status LowCardinality(String),
    status_raw String,
    status_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(status_at)
ORDER BY (org_id, campaign_id, source_system, shift_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Each sign-up's current state: its latest (status_at, then received_at).
CREATE VIEW IF NOT EXISTS volunteer_shift_current AS
SELECT
    org_id,
    campaign_id,
    source_system,
    shift_id,
    argMax(v.status, (v.status_at, v.received_at)) AS status,
    max(v.status_at) AS status_at,
    argMax(v.event_type, (v.status_at, v.received_at)) AS event_type,
    argMax(v.team_id, (v.status_at, v.received_at)) AS team_id,
    argMax(v.volunteer_event_id, (v.status_at, v.received_at)) AS volunteer_event_id,
    argMax(v.shift_start, (v.status_at, v.received_at)) AS shift_start,
    argMax(v.shift_end, (v.status_at, v.received_at)) AS shift_end,
    argMax(v.state, (v.status_at, v.received_at)) AS state,
    argMax(v.voter_id, (v.status_at, v.received_at)) AS voter_id,
    argMax(v.van_id, (v.status_at, v.received_at)) AS van_id,
    argMax(v.state_file_id, (v.status_at, v.received_at)) AS state_file_id,
    argMax(v.vendor_id, (v.status_at, v.received_at)) AS vendor_id,
    groupArray(v.status) AS history
FROM volunteer_shifts AS v
GROUP BY org_id, campaign_id, source_system, shift_id;

-- Shifts by the day they start (the day the state was recorded when the tool gave no start),
-- team and event type. scheduled: sign-ups not cancelled; flake_rate: no-shows over the
-- shifts whose outcome is known (attended + no-shows), null before any is known.
CREATE VIEW IF NOT EXISTS shift_progress_daily AS
SELECT
    org_id,
    campaign_id,
    toDate(coalesce(shift_start, status_at)) AS day,
    team_id,
    event_type,
    countIf(status != 'cancelled') AS scheduled,
    countIf(status = 'attended') AS attended,
    countIf(status = 'no_show') AS no_shows,
    countIf(status = 'cancelled') AS cancelled,
    if(attended + no_shows = 0, NULL, no_shows / (attended + no_shows)) AS flake_rate
FROM volunteer_shift_current
GROUP BY org_id, campaign_id, day, team_id, event_type;

-- One row per person signal (person.signals): activist codes and tags applied or removed,
-- opt-ins and opt-outs by channel, with the tool they came from. person_key is the person's
-- first id of: voter (state:voter_id), VAN id, state file id, vendor id, phone.
CREATE TABLE IF NOT EXISTS person_signals
(
    event_id String,
    source_system LowCardinality(String),
    source_event_id String,
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    state String,
    voter_id String,
    van_id String,
    state_file_id String,
    vendor_id String,
    phone String,
    person_key String MATERIALIZED multiIf(
        voter_id != '', concat('voter:', state, ':', voter_id),
        van_id != '', concat('van:', van_id),
        state_file_id != '', concat('state_file:', state_file_id),
        vendor_id != '', concat('vendor:', vendor_id),
        phone != '', concat('phone:', phone),
        ''),
    kind LowCardinality(String),
    channel LowCardinality(String),
    code String,
    raw String,
    contact_source_event_id String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (org_id, kind, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- The do-not-contact list: per org, channel and person, those whose latest opt-in or opt-out
-- is an opt-out. channel 'all' covers every channel. An opt-in lifts an opt-out only when it
-- names the same person_key (the same first id, or the same phone).
CREATE VIEW IF NOT EXISTS do_not_contact AS
SELECT
    org_id,
    channel,
    person_key,
    argMax(p.kind, (p.occurred_at, p.received_at)) AS latest,
    max(p.occurred_at) AS since,
    argMax(p.state, (p.occurred_at, p.received_at)) AS state,
    argMax(p.voter_id, (p.occurred_at, p.received_at)) AS voter_id,
    argMax(p.van_id, (p.occurred_at, p.received_at)) AS van_id,
    argMax(p.state_file_id, (p.occurred_at, p.received_at)) AS state_file_id,
    argMax(p.vendor_id, (p.occurred_at, p.received_at)) AS vendor_id,
    argMax(p.phone, (p.occurred_at, p.received_at)) AS phone,
    argMax(p.source_system, (p.occurred_at, p.received_at)) AS source_system,
    argMax(p.raw, (p.occurred_at, p.received_at)) AS raw
FROM person_signals AS p
WHERE kind IN ('opt_in', 'opt_out') AND person_key != ''
GROUP BY org_id, channel, person_key
HAVING latest = 'opt_out';

-- Activist codes and tags each person holds now: the latest apply/remove per code wins.
CREATE VIEW IF NOT EXISTS person_codes AS
SELECT
    org_id,
    person_key,
    if(startsWith(toString(kind), 'tag'), 'tag', 'activist_code') AS code_type,
    code,
    argMax(p.kind, (p.occurred_at, p.received_at)) AS latest,
    max(p.occurred_at) AS since,
    argMax(p.source_system, (p.occurred_at, p.received_at)) AS source_system
FROM person_signals AS p
WHERE kind IN ('activist_code_applied', 'activist_code_removed', 'tag_added', 'tag_removed')
    AND person_key != ''
GROUP BY org_id, person_key, code_type, code
HAVING latest IN ('activist_code_applied', 'tag_added');
