-- Universes with turfs and loads, and coverage: distinct universe voters attempted (and
-- contacted) over universe size, overall and by precinct, turf, county and demographic group.
--
-- A reload replaces a campaign's universe: every load has its own load_id, and only the newest
-- load per org/campaign (by loaded_at) is current. ReplacingMergeTree(loaded_at) alone would keep
-- the voters dropped from a later load forever. Rows loaded before this migration get their
-- loaded_at as load_id, so the newest of those old loads is current too.
ALTER TABLE universes ADD COLUMN IF NOT EXISTS turf_id String DEFAULT '';

ALTER TABLE universes ADD COLUMN IF NOT EXISTS load_id String DEFAULT toString(loaded_at);

-- The current universe: one row per voter of the newest load of each org/campaign.
CREATE VIEW IF NOT EXISTS universe_current AS
SELECT
    toString(u.org_id) AS org_id,
    toString(u.campaign_id) AS campaign_id,
    u.state AS state,
    u.voter_id AS voter_id,
    u.turf_id AS turf_id,
    u.load_id AS load_id,
    u.loaded_at AS loaded_at
FROM universes AS u FINAL
WHERE (toString(u.org_id), toString(u.campaign_id), u.load_id) IN
(
    SELECT toString(org_id), toString(campaign_id), argMax(load_id, loaded_at)
    FROM universes
    GROUP BY org_id, campaign_id
);

-- Each current universe member with the demographics of the voters table ('unknown' when the
-- voter is not on the file, on_file = 0) and whether the campaign attempted (any event in
-- contact_events for this org/campaign and state:voter_id) and contacted (is_contact) them.
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

-- Coverage of each current universe as a whole (the margins of the tables below).
CREATE VIEW IF NOT EXISTS universe_coverage AS
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
GROUP BY org_id, campaign_id;

-- Coverage by group, one dimension at a time: county, precinct (value 'county / precinct'),
-- turf ('none' when the universe gives none), race and ethnicity (source: how the value is
-- known), sex, age_band. The denominator is the number of universe members in the group.
CREATE VIEW IF NOT EXISTS universe_coverage_by_group AS
SELECT
    org_id,
    campaign_id,
    g.1 AS dimension,
    g.2 AS value,
    g.3 AS source,
    count() AS universe,
    sum(attempted) AS attempted,
    sum(contacted) AS contacted,
    attempted / universe AS attempted_share,
    contacted / universe AS contacted_share
FROM universe_members
ARRAY JOIN
[
    ('county', county, ''),
    ('precinct', concat(county, ' / ', precinct), ''),
    ('turf', turf_id, ''),
    ('race', race, race_source),
    ('ethnicity', ethnicity, ethnicity_source),
    ('sex', sex, ''),
    ('age_band', age_band, '')
] AS g
GROUP BY org_id, campaign_id, dimension, value, source;
