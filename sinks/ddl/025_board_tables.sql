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

-- The groups are of the targeted universe (held-out members are left out, sinks/coverage.py);
-- its holdout is beside it (0 and 0 without one; sinks/ddl/018_holdouts.sql).
CREATE VIEW IF NOT EXISTS universe_coverage AS
SELECT
    c.org_id AS org_id,
    c.campaign_id AS campaign_id,
    c.universe AS universe,
    c.attempted AS attempted,
    c.contacted AS contacted,
    c.attempted_share AS attempted_share,
    c.contacted_share AS contacted_share,
    c.on_file AS on_file,
    coalesce(h.held_out, 0) AS held_out,
    coalesce(h.breached, 0) AS holdout_breaches
FROM
(
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
    GROUP BY org_id, campaign_id
) AS c
LEFT JOIN holdout_breaches AS h ON c.org_id = h.org_id AND c.campaign_id = h.campaign_id;

-- The member-level views (universe_members_all, and universe_members: its targeted members)
-- count contact_events_counted since sinks/ddl/020_quality.sql, which now leaves out voided and
-- folded contacts too (024_corrections.sql); the coalition views over them are in
-- 026_retractions.sql.

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
