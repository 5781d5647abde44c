-- The analytics model: a five-minute rollup over every dimension organizers slice by, and a
-- daily one per canvasser. Every measure is a uniqExact state (of attempt_key, event ids or
-- people), so a duplicate or redelivered row changes no number, and states merge exactly into
-- any coarser bucket (hour, day, week) and any subset of dimensions.
CREATE TABLE IF NOT EXISTS contact_rollup_5m
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    channel LowCardinality(String),
    bucket DateTime('UTC'),
    team_id LowCardinality(String),
    turf_id String,
    precinct LowCardinality(String),
    county LowCardinality(String),
    congressional_district LowCardinality(String),
    state_senate_district LowCardinality(String),
    state_house_district LowCardinality(String),
    race LowCardinality(String),
    race_source LowCardinality(String),
    ethnicity LowCardinality(String),
    ethnicity_source LowCardinality(String),
    sex LowCardinality(String),
    age_band LowCardinality(String),
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
PARTITION BY toYYYYMM(bucket)
ORDER BY (org_id, campaign_id, channel, bucket, team_id, turf_id, precinct, county,
          congressional_district, state_senate_district, state_house_district,
          race, race_source, ethnicity, ethnicity_source, sex, age_band)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_rollup_5m_mv TO contact_rollup_5m AS
SELECT
    org_id, campaign_id, channel,
    toStartOfFiveMinutes(occurred_at) AS bucket,
    team_id, turf_id, precinct, county,
    congressional_district, state_senate_district, state_house_district,
    race, race_source, ethnicity, ethnicity_source, sex, age_band,
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
GROUP BY org_id, campaign_id, channel, bucket, team_id, turf_id, precinct, county,
         congressional_district, state_senate_district, state_house_district,
         race, race_source, ethnicity, ethnicity_source, sex, age_band;

INSERT INTO contact_rollup_5m
SELECT
    org_id, campaign_id, channel,
    toStartOfFiveMinutes(occurred_at) AS bucket,
    team_id, turf_id, precinct, county,
    congressional_district, state_senate_district, state_house_district,
    race, race_source, ethnicity, ethnicity_source, sex, age_band,
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
GROUP BY org_id, campaign_id, channel, bucket, team_id, turf_id, precinct, county,
         congressional_district, state_senate_district, state_house_district,
         race, race_source, ethnicity, ethnicity_source, sex, age_band;

-- Per canvasser (caller, texter) and day: who is doing the work, by team.
CREATE TABLE IF NOT EXISTS canvasser_rollup_daily
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    channel LowCardinality(String),
    day Date,
    team_id LowCardinality(String),
    canvasser_id String,
    attempts AggregateFunction(uniqExact, String),
    contacts AggregateFunction(uniqExact, String),
    ids AggregateFunction(uniqExact, String),
    scripts_completed AggregateFunction(uniqExact, String),
    people_reached AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, campaign_id, channel, day, team_id, canvasser_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS canvasser_rollup_daily_mv TO canvasser_rollup_daily AS
SELECT
    org_id, campaign_id, channel, toDate(occurred_at) AS day, team_id, canvasser_id,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed = 1) AS scripts_completed,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, team_id, canvasser_id;

INSERT INTO canvasser_rollup_daily
SELECT
    org_id, campaign_id, channel, toDate(occurred_at) AS day, team_id, canvasser_id,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, is_contact = 1 AND script_completed = 1) AS scripts_completed,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, team_id, canvasser_id;

-- Finalised views for analysts and boards. contacts, ids and scripts can be summed across rows
-- (an event is in one row). attempts and people_reached are distinct people for texts and
-- people: summed across rows they count a person twice when the person is in two rows (texted
-- by two teams the same day); merge the states of contact_rollup_5m instead
-- (uniqExactMerge(attempts) grouped as wanted), as docs/analytics.md shows.
CREATE VIEW IF NOT EXISTS contact_progress_5m AS
SELECT
    org_id, campaign_id, channel, bucket, team_id, turf_id, precinct, county,
    congressional_district, state_senate_district, state_house_district,
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
FROM contact_rollup_5m
GROUP BY org_id, campaign_id, channel, bucket, team_id, turf_id, precinct, county,
         congressional_district, state_senate_district, state_house_district,
         race, race_source, ethnicity, ethnicity_source, sex, age_band;

-- The same by hour, day and week (weeks start Monday, UTC), over every dimension but turf.
CREATE VIEW IF NOT EXISTS contact_progress_by_period AS
SELECT
    period, org_id, campaign_id, channel, period_start, team_id, precinct, county,
    congressional_district, state_senate_district, state_house_district,
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
FROM contact_rollup_5m
ARRAY JOIN
    ['hour', 'day', 'week'] AS period,
    [toStartOfHour(bucket), toDateTime(toDate(bucket), 'UTC'),
     toDateTime(toMonday(bucket), 'UTC')] AS period_start
GROUP BY period, org_id, campaign_id, channel, period_start, team_id, precinct, county,
         congressional_district, state_senate_district, state_house_district,
         race, race_source, ethnicity, ethnicity_source, sex, age_band;

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
