-- The program's own clock. Each contact keeps its UTC time (occurred_at) and gets, when the sink
-- stores it, the zone of its org/campaign in programs.yaml (tz) and its day on that clock
-- (local_day). Rows stored before this migration are on UTC until the sink re-stamps them with
-- their campaign's zone (sinks/zones.py), which it does whenever a zone differs, and then
-- recounts every rollup of that campaign from contact_events.
ALTER TABLE contact_events ADD COLUMN IF NOT EXISTS tz LowCardinality(String) DEFAULT 'UTC';

ALTER TABLE contact_events ADD COLUMN IF NOT EXISTS local_day Date DEFAULT toDate(occurred_at, 'UTC');

-- The import run that sent the contact (empty for webhooks), so a run can be voided as a whole.
ALTER TABLE contact_events ADD COLUMN IF NOT EXISTS import_run String DEFAULT '';

-- "texted" is one attempt per person, campaign and local day.
ALTER TABLE contact_events MODIFY COLUMN attempt_key String MATERIALIZED
    if(channel = 'text' AND result = 'texted',
       multiIf(
           voter_id != '', concat('texted:', campaign_id, ':', toString(local_day), ':voter:', state, ':', voter_id),
           van_id != '', concat('texted:', campaign_id, ':', toString(local_day), ':van:', van_id),
           state_file_id != '', concat('texted:', campaign_id, ':', toString(local_day), ':sfid:', state_file_id),
           vendor_id != '', concat('texted:', campaign_id, ':', toString(local_day), ':vendor:', vendor_id),
           event_id),
       event_id);

-- Each org/campaign's clock as the sink last read it from programs.yaml (boards read their
-- zone here: a Grafana variable per board).
CREATE TABLE IF NOT EXISTS program_zones
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    tz LowCardinality(String),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (org_id, campaign_id);

-- The daily rollups by local day. Rebuilt here from contact_events (exact: uniqExact states).
DROP VIEW IF EXISTS contact_progress_daily;

DROP VIEW IF EXISTS contact_rollup_daily_mv;

DROP TABLE IF EXISTS contact_rollup_daily;

CREATE TABLE IF NOT EXISTS contact_rollup_daily
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    channel LowCardinality(String),
    day Date,
    precinct LowCardinality(String),
    race LowCardinality(String),
    race_source LowCardinality(String),
    ethnicity LowCardinality(String),
    ethnicity_source LowCardinality(String),
    sex LowCardinality(String),
    age_band LowCardinality(String),
    county SimpleAggregateFunction(any, String),
    attempts AggregateFunction(uniqExact, String),
    contacts AggregateFunction(uniqExact, String),
    ids AggregateFunction(uniqExact, String),
    ids_support AggregateFunction(uniqExact, String),
    ids_undecided AggregateFunction(uniqExact, String),
    ids_oppose AggregateFunction(uniqExact, String),
    scripts_known AggregateFunction(uniqExact, String),
    scripts_completed AggregateFunction(uniqExact, String),
    people_reached AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, campaign_id, day, channel, race, race_source, ethnicity, ethnicity_source, sex,
          age_band, precinct)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_rollup_daily_mv TO contact_rollup_daily AS
SELECT
    org_id, campaign_id, channel, local_day AS day, precinct,
    race, race_source, ethnicity, ethnicity_source, sex, age_band,
    any(toString(county)) AS county,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (1, 2)) AS ids_support,
    uniqExactStateIf(event_id, has_id = 1 AND support_level = 3) AS ids_undecided,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (4, 5)) AS ids_oppose,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed IS NOT NULL) AS scripts_known,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed = 1) AS scripts_completed,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity,
         ethnicity_source, sex, age_band;

INSERT INTO contact_rollup_daily
SELECT
    org_id, campaign_id, channel, local_day AS day, precinct,
    race, race_source, ethnicity, ethnicity_source, sex, age_band,
    any(toString(county)) AS county,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (1, 2)) AS ids_support,
    uniqExactStateIf(event_id, has_id = 1 AND support_level = 3) AS ids_undecided,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (4, 5)) AS ids_oppose,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed IS NOT NULL) AS scripts_known,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed = 1) AS scripts_completed,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity,
         ethnicity_source, sex, age_band;

CREATE VIEW IF NOT EXISTS contact_progress_daily AS
SELECT
    org_id, campaign_id, channel, day, precinct, any(county) AS county,
    race, race_source, ethnicity, ethnicity_source, sex, age_band,
    uniqExactMerge(attempts) AS attempts,
    uniqExactMerge(contacts) AS contacts,
    uniqExactMerge(ids) AS ids,
    uniqExactMerge(ids_support) AS ids_support,
    uniqExactMerge(ids_undecided) AS ids_undecided,
    uniqExactMerge(ids_oppose) AS ids_oppose,
    uniqExactMerge(scripts_known) AS scripts_known,
    uniqExactMerge(scripts_completed) AS scripts_completed,
    uniqExactMerge(people_reached) AS people_reached
FROM contact_rollup_daily
GROUP BY org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity,
         ethnicity_source, sex, age_band;

DROP VIEW IF EXISTS canvasser_progress_daily;

DROP VIEW IF EXISTS canvasser_rollup_daily_mv;

TRUNCATE TABLE IF EXISTS canvasser_rollup_daily;

CREATE MATERIALIZED VIEW IF NOT EXISTS canvasser_rollup_daily_mv TO canvasser_rollup_daily AS
SELECT
    org_id, campaign_id, channel, local_day AS day, team_id, canvasser_id,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed = 1) AS scripts_completed,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, team_id, canvasser_id;

INSERT INTO canvasser_rollup_daily
SELECT
    org_id, campaign_id, channel, local_day AS day, team_id, canvasser_id,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed = 1) AS scripts_completed,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, team_id, canvasser_id;

CREATE VIEW IF NOT EXISTS canvasser_progress_daily AS
SELECT
    org_id, campaign_id, channel, day, team_id, canvasser_id,
    uniqExactMerge(attempts) AS attempts,
    uniqExactMerge(contacts) AS contacts,
    uniqExactMerge(ids) AS ids,
    uniqExactMerge(scripts_completed) AS scripts_completed,
    uniqExactMerge(people_reached) AS people_reached
FROM canvasser_rollup_daily
GROUP BY org_id, campaign_id, channel, day, team_id, canvasser_id;

-- Voter-file match by tool and local day (the match_rate view below reads it).
CREATE TABLE IF NOT EXISTS match_rollup_daily
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    source_system LowCardinality(String),
    day Date,
    events AggregateFunction(uniqExact, String),
    matched AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, campaign_id, day, source_system)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS match_rollup_daily_mv TO match_rollup_daily AS
SELECT
    org_id, campaign_id, source_system, local_day AS day,
    uniqExactState(event_id) AS events,
    uniqExactStateIf(event_id, voter_matched = 1) AS matched
FROM contact_events
GROUP BY org_id, campaign_id, source_system, day;

INSERT INTO match_rollup_daily
SELECT
    org_id, campaign_id, source_system, local_day AS day,
    uniqExactState(event_id) AS events,
    uniqExactStateIf(event_id, voter_matched = 1) AS matched
FROM contact_events FINAL
GROUP BY org_id, campaign_id, source_system, day;

-- What the sink stored lately, in the order it stored it: the ledger keeper (sinks/keeper.py)
-- reads new rows here (cells to finalise, people to number, corrections and folds to apply)
-- instead of scanning contact_events, whose order is by event id. Kept two days.
CREATE TABLE IF NOT EXISTS contact_inbox
(
    inserted_at DateTime64(3, 'UTC'),
    event_id String,
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    local_day Date,
    occurred_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    source_system LowCardinality(String),
    import_run String,
    canvasser_id String,
    channel LowCardinality(String),
    result LowCardinality(String),
    is_contact UInt8,
    state String,
    voter_id String,
    van_id String,
    state_file_id String,
    vendor_id String,
    race LowCardinality(String),
    race_source LowCardinality(String),
    ethnicity LowCardinality(String),
    ethnicity_source LowCardinality(String),
    sex LowCardinality(String),
    age_band LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toDate(inserted_at)
ORDER BY inserted_at
TTL toDateTime(inserted_at) + INTERVAL 2 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_inbox_mv TO contact_inbox AS
SELECT
    inserted_at, event_id, org_id, campaign_id, local_day, occurred_at, received_at,
    source_system, import_run, canvasser_id, channel, result, is_contact,
    state, voter_id, van_id, state_file_id, vendor_id,
    race, race_source, ethnicity, ethnicity_source, sex, age_band
FROM contact_events;
