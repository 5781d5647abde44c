-- What the boards read: small finalised tables the ledger keeper (sinks/keeper.py) keeps from
-- the rollups, so a panel over twelve weeks reads thousands of rows, not millions of states.
-- Every figure in them equals a recount of contact_events_counted (fieldstream verify checks).

-- Dense numbers for people (state:voter_id), given once by the keeper, so sets of people are
-- roaring bitmaps: unions (people reached over any range) and intersections (coverage) exact
-- and fast.
CREATE TABLE IF NOT EXISTS person_numbers
(
    person String,
    no UInt32
)
ENGINE = MergeTree
ORDER BY person
SETTINGS index_granularity = 256;

-- Each table below is a SummingMergeTree the keeper writes differences into: to put a cell
-- right it inserts, in one statement, the recount minus what the table holds for that cell, so
-- a reader's sum() is exact at every moment and nothing is ever deleted.

-- Counts by local day, channel and who was reached (by_group = 1), and by local day and
-- channel alone (by_group = 0, the groups ''). Every measure adds up over days and channels
-- (an event, or a texted person-day, belongs to one day and channel). Over groups, events add
-- up, but a texted person whose texts that day carried different demographics (a voter-file
-- reload between them) is in each of those groups: totals come from the by_group = 0 rows.
CREATE TABLE IF NOT EXISTS counts_daily
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    day Date,
    channel LowCardinality(String),
    by_group UInt8,
    race LowCardinality(String),
    race_source LowCardinality(String),
    ethnicity LowCardinality(String),
    ethnicity_source LowCardinality(String),
    sex LowCardinality(String),
    age_band LowCardinality(String),
    attempts Int64,
    contacts Int64,
    ids Int64,
    ids_support Int64,
    ids_undecided Int64,
    ids_oppose Int64,
    scripts_known Int64,
    scripts_completed Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, campaign_id, day, channel, by_group, race, race_source, ethnicity,
          ethnicity_source, sex, age_band);

-- Counts by five minutes (UTC) and channel: the time series. Events add up over buckets
-- (attempts do not: a texted person is one attempt a day, whatever the bucket).
CREATE TABLE IF NOT EXISTS counts_5m
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    bucket DateTime('UTC'),
    channel LowCardinality(String),
    contacts Int64,
    ids Int64,
    ids_support Int64,
    ids_undecided Int64,
    ids_oppose Int64,
    scripts_known Int64,
    scripts_completed Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (org_id, campaign_id, bucket, channel);

-- The people attempted and reached (a contact) each local day, by channel and by one
-- dimension at a time: dim 'all' (value ''), 'race' and 'ethnicity' (source: how the value is
-- known), 'sex', 'age_band'. A union of days is the people of a range, counted once.
CREATE TABLE IF NOT EXISTS reach_daily
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    dim LowCardinality(String),
    day Date,
    channel LowCardinality(String),
    value LowCardinality(String),
    source LowCardinality(String),
    attempted AggregateFunction(groupBitmap, UInt32),
    reached AggregateFunction(groupBitmap, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, campaign_id, dim, day, channel, value, source);

-- Everyone a campaign has attempted and reached so far (coverage).
CREATE TABLE IF NOT EXISTS reach_ever
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    attempted AggregateFunction(groupBitmap, UInt32),
    reached AggregateFunction(groupBitmap, UInt32)
)
ENGINE = AggregatingMergeTree
ORDER BY (org_id, campaign_id);

-- Voter-file match by tool and local day.
CREATE TABLE IF NOT EXISTS match_daily
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    day Date,
    source_system LowCardinality(String),
    events Int64,
    matched Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, campaign_id, day, source_system);

-- Each local week's actuals of the goal metrics (weeks start on Monday in the campaign's zone).
CREATE TABLE IF NOT EXISTS goal_actuals
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    week_start Date,
    attempts Int64,
    contacts Int64,
    ids Int64,
    people_reached Int64
)
ENGINE = SummingMergeTree
ORDER BY (org_id, campaign_id, week_start);

-- Each current universe cut into groups, one dimension at a time, as bitmaps of its members'
-- person numbers (built by the keeper when a universe is loaded, or the voter file reloaded).
CREATE TABLE IF NOT EXISTS universe_groups
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    load_id String,
    loaded_at DateTime64(3, 'UTC'),
    dim LowCardinality(String),
    value String,
    source LowCardinality(String),
    members AggregateFunction(groupBitmap, UInt32),
    latitude Nullable(Float64),
    longitude Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (org_id, campaign_id, load_id, dim, value, source);

-- Each goal of the current local week with its forecast (sinks/forecast.py): projected with
-- the campaign's ramp, a 90% interval, at the current rate, and the day it will be reached.
CREATE TABLE IF NOT EXISTS goal_forecasts
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    week_start Date,
    metric LowCardinality(String),
    target UInt64,
    actual UInt64,
    projected UInt64,
    low UInt64,
    high UInt64,
    current_rate UInt64,
    reached_on Nullable(Date),
    shape LowCardinality(String),
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (org_id, campaign_id, week_start, metric);

-- Freshness (event time to queryable) by five minutes of event time, for the pipeline board: a
-- monitoring figure (t-digest quantiles), not a count.
CREATE TABLE IF NOT EXISTS freshness_5m
(
    bucket DateTime('UTC'),
    lag AggregateFunction(quantilesTDigest(0.5, 0.9), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS freshness_5m_mv TO freshness_5m AS
SELECT
    toStartOfFiveMinutes(occurred_at) AS bucket,
    quantilesTDigestState(0.5, 0.9)(toFloat64(dateDiff('millisecond', occurred_at, inserted_at)) / 1000) AS lag
FROM contact_events
GROUP BY bucket;

-- The keeper's own marks (how far it has read the inbox, what it has built from).
CREATE TABLE IF NOT EXISTS keeper_state
(
    key String,
    value String,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key;

-- Goals with their actuals, in the campaign's own weeks.
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
    SELECT toString(org_id) AS org_id, toString(campaign_id) AS campaign_id, week_start,
        toString(metric) AS metric, argMax(target, loaded_at) AS target
    FROM goals
    GROUP BY org_id, campaign_id, week_start, metric
) AS g
LEFT JOIN
(
    SELECT toString(org_id) AS org_id, toString(campaign_id) AS campaign_id, week_start,
        sum(attempts) AS attempts, sum(contacts) AS contacts, sum(ids) AS ids,
        sum(people_reached) AS people_reached
    FROM goal_actuals
    GROUP BY org_id, campaign_id, week_start
) AS a
ON g.org_id = a.org_id AND g.campaign_id = a.campaign_id AND g.week_start = a.week_start;

-- Match rate by tool and local day.
DROP VIEW IF EXISTS match_rate;

CREATE VIEW IF NOT EXISTS match_rate AS
SELECT
    toString(org_id) AS org_id,
    toString(campaign_id) AS campaign_id,
    toString(source_system) AS source_system,
    day,
    sum(events) AS events,
    sum(matched) AS matched,
    events - matched AS unmatched,
    matched / events AS match_rate
FROM match_daily
GROUP BY org_id, campaign_id, source_system, day;

-- Coverage of each current universe: its members, attempted and contacted (ever, counted
-- contacts only), by group (dimension 'all': the whole universe; 'on_file': its members found
-- on the voter file).
DROP VIEW IF EXISTS universe_coverage;

DROP VIEW IF EXISTS universe_coverage_by_group;

CREATE VIEW IF NOT EXISTS universe_coverage_groups AS
SELECT
    g.org_id AS org_id,
    g.campaign_id AS campaign_id,
    g.dim AS dimension,
    g.value AS value,
    toString(g.source) AS source,
    bitmapCardinality(g.members) AS universe,
    bitmapAndCardinality(g.members, r.attempted) AS attempted,
    bitmapAndCardinality(g.members, r.reached) AS contacted,
    attempted / universe AS attempted_share,
    contacted / universe AS contacted_share,
    g.latitude AS latitude,
    g.longitude AS longitude
FROM
(
    SELECT toString(org_id) AS org_id, toString(campaign_id) AS campaign_id, toString(dim) AS dim,
        value, source, members, latitude, longitude
    FROM universe_groups
    WHERE (org_id, campaign_id, load_id) IN
        (SELECT org_id, campaign_id, argMax(load_id, loaded_at) FROM universe_groups
         GROUP BY org_id, campaign_id)
) AS g
LEFT JOIN
(
    SELECT toString(org_id) AS org_id, toString(campaign_id) AS campaign_id,
        groupBitmapMergeState(attempted) AS attempted, groupBitmapMergeState(reached) AS reached
    FROM reach_ever
    GROUP BY org_id, campaign_id
) AS r ON g.org_id = r.org_id AND g.campaign_id = r.campaign_id;

CREATE VIEW IF NOT EXISTS universe_coverage_by_group AS
SELECT org_id, campaign_id, dimension, value, source, universe, attempted, contacted,
    attempted_share, contacted_share, latitude, longitude
FROM universe_coverage_groups
WHERE dimension NOT IN ('all', 'on_file');

CREATE VIEW IF NOT EXISTS universe_coverage AS
SELECT
    org_id,
    campaign_id,
    sumIf(g.universe, g.dimension = 'all') AS universe,
    sumIf(g.attempted, g.dimension = 'all') AS attempted,
    sumIf(g.contacted, g.dimension = 'all') AS contacted,
    attempted / universe AS attempted_share,
    contacted / universe AS contacted_share,
    sumIf(g.universe, g.dimension = 'on_file') AS on_file
FROM universe_coverage_groups AS g
WHERE g.dimension IN ('all', 'on_file')
GROUP BY org_id, campaign_id;

-- The member-level view for analysts counts only the contacts that count.
DROP VIEW IF EXISTS coalition_universe_coverage;

DROP VIEW IF EXISTS coalition_universe_members;

DROP VIEW IF EXISTS universe_members;

CREATE VIEW IF NOT EXISTS universe_members AS
SELECT
    u.org_id AS org_id,
    u.campaign_id AS campaign_id,
    u.state AS state,
    u.voter_id AS voter_id,
    if(u.turf_id = '', 'none', u.turf_id) AS turf_id,
    toUInt8(coalesce(v.on_file, 0)) AS on_file,
    if(on_file = 1 AND v.county != '', v.county, 'unknown') AS county,
    if(on_file = 1 AND v.precinct != '', v.precinct, 'unknown') AS precinct,
    if(on_file = 1 AND v.race != '', v.race, 'unknown') AS race,
    if(on_file = 1 AND v.race_source != '', v.race_source, 'unknown') AS race_source,
    if(on_file = 1 AND v.ethnicity != '', v.ethnicity, 'unknown') AS ethnicity,
    if(on_file = 1 AND v.ethnicity_source != '', v.ethnicity_source, 'unknown') AS ethnicity_source,
    if(on_file = 1 AND v.sex != '', v.sex, 'unknown') AS sex,
    if(on_file = 1 AND v.age_band != '', v.age_band, 'unknown') AS age_band,
    toUInt8(coalesce(a.attempted, 0)) AS attempted,
    toUInt8(coalesce(a.contacted, 0)) AS contacted
FROM universe_current AS u
LEFT JOIN
(
    SELECT
        state, voter_id, county, precinct,
        toString(race) AS race, toString(race_source) AS race_source,
        toString(ethnicity) AS ethnicity, toString(ethnicity_source) AS ethnicity_source,
        toString(sex) AS sex, toString(age_band) AS age_band,
        toUInt8(1) AS on_file
    FROM voters FINAL
) AS v ON u.state = v.state AND u.voter_id = v.voter_id
LEFT JOIN
(
    SELECT
        toString(org_id) AS org_id, toString(campaign_id) AS campaign_id, state, voter_id,
        toUInt8(1) AS attempted, toUInt8(max(is_contact)) AS contacted
    FROM contact_events_counted
    WHERE voter_id != ''
    GROUP BY org_id, campaign_id, state, voter_id
) AS a ON u.org_id = a.org_id AND u.campaign_id = a.campaign_id
    AND u.state = a.state AND u.voter_id = a.voter_id;

CREATE VIEW IF NOT EXISTS coalition_universe_members AS
SELECT
    m.org_id AS org_id,
    m.campaign_id AS campaign_id,
    m.state AS state,
    m.voter_id AS voter_id,
    m.attempted AS attempted,
    m.contacted AS contacted,
    toUInt8(coalesce(x.partner_attempted, 0)) AS partner_attempted,
    toUInt8(coalesce(x.partner_contacted, 0)) AS partner_contacted,
    toUInt8(attempted = 1 OR partner_attempted = 1) AS coalition_attempted,
    toUInt8(contacted = 1 OR partner_contacted = 1) AS coalition_contacted
FROM universe_members AS m
LEFT JOIN
(
    SELECT p.state AS state, p.voter_id AS voter_id, toUInt8(1) AS partner_attempted,
        max(c.contacted) AS partner_contacted
    FROM voter_pseudonyms AS p FINAL
    INNER JOIN
    (
        SELECT key_id, person_pseudonym, max(is_contact) AS contacted
        FROM coalition_contacts
        WHERE ours = 0 AND person_id_kind = 'state_voter_id'
        GROUP BY key_id, person_pseudonym
    ) AS c ON p.key_id = c.key_id AND p.person_pseudonym = c.person_pseudonym
    GROUP BY p.state, p.voter_id
) AS x ON m.state = x.state AND m.voter_id = x.voter_id;

CREATE VIEW IF NOT EXISTS coalition_universe_coverage AS
SELECT
    org_id,
    campaign_id,
    count() AS universe,
    sum(attempted) AS attempted,
    sum(partner_attempted) AS partner_attempted,
    sum(coalition_attempted) AS coalition_attempted,
    sum(coalition_contacted) AS coalition_contacted,
    coalition_attempted / universe AS coalition_attempted_share,
    coalition_contacted / universe AS coalition_contacted_share
FROM coalition_universe_members
GROUP BY org_id, campaign_id;

-- By hour, day and week on a campaign's own clock: contact_progress_by_period(tz = '...').
DROP VIEW IF EXISTS contact_progress_by_period;

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
    [toStartOfHour(bucket, {tz:String}), toStartOfDay(bucket, {tz:String}),
     toDateTime(toMonday(bucket, {tz:String}), {tz:String})] AS period_start
GROUP BY period, org_id, campaign_id, channel, period_start, team_id, precinct, county,
         congressional_district, state_senate_district, state_house_district,
         race, race_source, ethnicity, ethnicity_source, sex, age_band;
