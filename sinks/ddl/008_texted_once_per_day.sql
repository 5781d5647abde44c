-- Texting semantics, as VAN counts them: "texted" is one attempt per person per campaign per
-- day, however many messages the texter sent. attempt_key is what an attempt is counted by:
-- the person and day for a texted result, the event id for everything else (people named
-- by no id at all fall back to the event id). The rollup and goal_progress count attempts as
-- distinct attempt_key; the rollup is rebuilt from contact_events, which is exact because
-- every measure is a uniqExact state.
ALTER TABLE contact_events ADD COLUMN IF NOT EXISTS attempt_key String MATERIALIZED
    if(channel = 'text' AND result = 'texted',
       multiIf(
           voter_id != '', concat('texted:', campaign_id, ':', toString(toDate(occurred_at)), ':voter:', state, ':', voter_id),
           van_id != '', concat('texted:', campaign_id, ':', toString(toDate(occurred_at)), ':van:', van_id),
           state_file_id != '', concat('texted:', campaign_id, ':', toString(toDate(occurred_at)), ':sfid:', state_file_id),
           vendor_id != '', concat('texted:', campaign_id, ':', toString(toDate(occurred_at)), ':vendor:', vendor_id),
           event_id),
       event_id);

DROP VIEW IF EXISTS contact_rollup_daily_mv;

TRUNCATE TABLE IF EXISTS contact_rollup_daily;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_rollup_daily_mv TO contact_rollup_daily AS
SELECT
    org_id,
    campaign_id,
    channel,
    toDate(occurred_at) AS day,
    precinct,
    race,
    race_source,
    ethnicity,
    sex,
    age_band,
    any(toString(county)) AS county,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (1, 2)) AS ids_support,
    uniqExactStateIf(event_id, has_id = 1 AND support_level = 3) AS ids_undecided,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (4, 5)) AS ids_oppose,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity, sex, age_band;

INSERT INTO contact_rollup_daily
SELECT
    org_id,
    campaign_id,
    channel,
    toDate(occurred_at) AS day,
    precinct,
    race,
    race_source,
    ethnicity,
    sex,
    age_band,
    any(toString(county)) AS county,
    uniqExactState(attempt_key) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (1, 2)) AS ids_support,
    uniqExactStateIf(event_id, has_id = 1 AND support_level = 3) AS ids_undecided,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (4, 5)) AS ids_oppose,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity, sex, age_band;

DROP VIEW IF EXISTS goal_progress;

CREATE VIEW IF NOT EXISTS goal_progress AS
SELECT
    g.org_id AS org_id,
    g.campaign_id AS campaign_id,
    g.week_start AS week_start,
    g.metric AS metric,
    g.target AS target,
    toUInt64(multiIf(
        g.metric = 'attempts', a.attempts,
        g.metric = 'contacts', a.contacts,
        g.metric = 'ids', a.ids,
        g.metric = 'people_reached', a.people_reached,
        0)) AS actual
FROM
(
    SELECT org_id, campaign_id, week_start, metric, argMax(target, loaded_at) AS target
    FROM goals
    GROUP BY org_id, campaign_id, week_start, metric
) AS g
LEFT JOIN
(
    SELECT
        toString(org_id) AS org_id,
        toString(campaign_id) AS campaign_id,
        toMonday(occurred_at) AS week_start,
        uniqExact(attempt_key) AS attempts,
        uniqExactIf(event_id, is_contact = 1) AS contacts,
        uniqExactIf(event_id, has_id = 1) AS ids,
        uniqExactIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
    FROM contact_events FINAL
    GROUP BY org_id, campaign_id, week_start
) AS a
ON toString(g.org_id) = a.org_id AND toString(g.campaign_id) = a.campaign_id AND g.week_start = a.week_start;
