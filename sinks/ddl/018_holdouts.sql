-- Randomized holdouts (fieldstream load-universe --holdout; sinks/holdout.py): each universe
-- member is targeted (holdout = 0) or held out (holdout = 1), drawn per campaign from a
-- recorded seed, within strata (stratum names the member's). A universe may also say which
-- channel the plan meant to reach each voter by (channel; '' when the plan does not say).
--
-- Coverage is of the targeted universe: universe_members keeps its columns and meaning for a
-- universe without a holdout, and leaves held-out voters out of one with a holdout, so a 10%
-- holdout does not cap coverage at 90%. universe_members_all has everyone, with the flag.
-- A contact with a held-out voter is a breach: counted in holdout_breaches, listed in
-- holdout_breach_events, shown on the coverage board.
ALTER TABLE universes ADD COLUMN IF NOT EXISTS holdout UInt8 DEFAULT 0;

ALTER TABLE universes ADD COLUMN IF NOT EXISTS stratum String DEFAULT '';

ALTER TABLE universes ADD COLUMN IF NOT EXISTS channel LowCardinality(String) DEFAULT '';

-- A universe file's rows while its holdout is drawn: joined with the voters table in the store
-- so only the universe's own voters come back for stratifying; kept a day.
CREATE TABLE IF NOT EXISTS universe_staging
(
    load_id String,
    state String,
    voter_id String,
    turf_id String,
    loaded_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (load_id, state, voter_id)
TTL toDateTime(loaded_at) + INTERVAL 1 DAY;

-- How each holdout was drawn: enough to draw it again (sinks.holdout.HoldoutPlan).
CREATE TABLE IF NOT EXISTS holdout_plans
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    load_id String,
    share Float64,
    share_fraction String,
    seed UInt64,
    strata Array(String),
    method String,
    universe UInt64,
    held_out UInt64,
    loaded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (org_id, campaign_id, load_id);

CREATE OR REPLACE VIEW universe_current AS
SELECT
    toString(u.org_id) AS org_id,
    toString(u.campaign_id) AS campaign_id,
    u.state AS state,
    u.voter_id AS voter_id,
    u.turf_id AS turf_id,
    u.load_id AS load_id,
    u.loaded_at AS loaded_at,
    u.holdout AS holdout,
    u.stratum AS stratum,
    toString(u.channel) AS channel
FROM universes AS u FINAL
WHERE (toString(u.org_id), toString(u.campaign_id), u.load_id) IN
(
    SELECT toString(org_id), toString(campaign_id), argMax(load_id, loaded_at)
    FROM universes
    GROUP BY org_id, campaign_id
);

-- Every current universe member, targeted or held out, with the voters table's demographics
-- and whether the campaign attempted and contacted them.
CREATE VIEW IF NOT EXISTS universe_members_all AS
SELECT
    u.org_id AS org_id,
    u.campaign_id AS campaign_id,
    u.state AS state,
    u.voter_id AS voter_id,
    u.holdout AS holdout,
    u.stratum AS stratum,
    if(u.channel = '', 'unplanned', u.channel) AS planned_channel,
    u.loaded_at AS loaded_at,
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
        state,
        voter_id,
        county,
        precinct,
        toString(race) AS race,
        toString(race_source) AS race_source,
        toString(ethnicity) AS ethnicity,
        toString(ethnicity_source) AS ethnicity_source,
        toString(sex) AS sex,
        toString(age_band) AS age_band,
        toUInt8(1) AS on_file
    FROM voters FINAL
) AS v ON u.state = v.state AND u.voter_id = v.voter_id
LEFT JOIN
(
    SELECT
        toString(org_id) AS org_id,
        toString(campaign_id) AS campaign_id,
        state,
        voter_id,
        toUInt8(1) AS attempted,
        toUInt8(max(is_contact)) AS contacted
    FROM contact_events FINAL
    WHERE voter_id != ''
    GROUP BY org_id, campaign_id, state, voter_id
) AS a ON u.org_id = a.org_id AND u.campaign_id = a.campaign_id
    AND u.state = a.state AND u.voter_id = a.voter_id;

-- The targeted universe (what coverage counts): the members not held out.
CREATE OR REPLACE VIEW universe_members AS
SELECT
    org_id, campaign_id, state, voter_id, turf_id, on_file, county, precinct, race,
    race_source, ethnicity, ethnicity_source, sex, age_band, attempted, contacted
FROM universe_members_all
WHERE holdout = 0;

-- Per campaign with a holdout: held-out voters, and those the campaign attempted (breached) or
-- talked to anyway. Any breach is a fault to fix in the field tools' lists.
CREATE VIEW IF NOT EXISTS holdout_breaches AS
SELECT
    org_id,
    campaign_id,
    count() AS held_out,
    sum(attempted) AS breached,
    sum(contacted) AS breached_contacted
FROM universe_members_all
WHERE holdout = 1
GROUP BY org_id, campaign_id;

-- The events that breached a holdout: which tool, canvasser and turf, to find the list at fault.
CREATE VIEW IF NOT EXISTS holdout_breach_events AS
SELECT
    toString(e.org_id) AS org_id,
    toString(e.campaign_id) AS campaign_id,
    e.event_id AS event_id,
    e.occurred_at AS occurred_at,
    toString(e.channel) AS channel,
    toString(e.source_system) AS source_system,
    e.canvasser_id AS canvasser_id,
    e.turf_id AS turf_id,
    e.list_id AS list_id,
    e.state AS state,
    e.voter_id AS voter_id,
    toString(e.result) AS result
FROM contact_events AS e FINAL
WHERE (toString(e.org_id), toString(e.campaign_id), e.state, e.voter_id) IN
(
    SELECT org_id, campaign_id, state, voter_id FROM universe_current WHERE holdout = 1
);

-- Coverage of each targeted universe, with its holdout beside it (0 and 0 without one).
CREATE OR REPLACE VIEW universe_coverage AS
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
        count() AS universe,
        sum(attempted) AS attempted,
        sum(contacted) AS contacted,
        attempted / universe AS attempted_share,
        contacted / universe AS contacted_share,
        sum(on_file) AS on_file
    FROM universe_members
    GROUP BY org_id, campaign_id
) AS c
LEFT JOIN holdout_breaches AS h ON c.org_id = h.org_id AND c.campaign_id = h.campaign_id;
