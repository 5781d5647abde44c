-- Daily rollup, exact under redelivery: every measure is a uniqExact state over event ids
-- (or state:voter_id for people reached), never a row count.
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
    sex LowCardinality(String),
    age_band LowCardinality(String),
    county SimpleAggregateFunction(any, String),
    attempts AggregateFunction(uniqExact, String),
    contacts AggregateFunction(uniqExact, String),
    ids AggregateFunction(uniqExact, String),
    ids_support AggregateFunction(uniqExact, String),
    ids_undecided AggregateFunction(uniqExact, String),
    ids_oppose AggregateFunction(uniqExact, String),
    people_reached AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity, sex, age_band)
SETTINGS non_replicated_deduplication_window = 1000;

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
    uniqExactState(event_id) AS attempts,
    uniqExactStateIf(event_id, is_contact = 1) AS contacts,
    uniqExactStateIf(event_id, has_id = 1) AS ids,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (1, 2)) AS ids_support,
    uniqExactStateIf(event_id, has_id = 1 AND support_level = 3) AS ids_undecided,
    uniqExactStateIf(event_id, has_id = 1 AND support_level IN (4, 5)) AS ids_oppose,
    uniqExactStateIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
FROM contact_events
GROUP BY org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity, sex, age_band;
