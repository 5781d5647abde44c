-- Canvasser data quality (docs/quality.md): the evidence fields of the standard 1.1 on
-- contact_events, the quality agent's flags, people's reviews of them, and quarantine.
ALTER TABLE contact_events
    ADD COLUMN IF NOT EXISTS shift_id Nullable(String),
    ADD COLUMN IF NOT EXISTS location_lat Nullable(Float64),
    ADD COLUMN IF NOT EXISTS location_lon Nullable(Float64),
    ADD COLUMN IF NOT EXISTS location_accuracy_m Nullable(Float64),
    ADD COLUMN IF NOT EXISTS call_duration_s Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS reached LowCardinality(Nullable(String));

-- One row per version of a flag (quality.flags); the newest updated_at of a flag_id holds.
-- checks: every check that fired, its figure, threshold, weight and numbers (JSON text).
CREATE TABLE IF NOT EXISTS quality_flags
(
    flag_id String,
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    channel LowCardinality(String),
    canvasser_id String,
    shift_key String,
    first_contact_at DateTime64(3, 'UTC'),
    last_contact_at DateTime64(3, 'UTC'),
    flagged_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    contacts UInt32,
    score Float64,
    quarantine UInt8,
    checks Nested(name String, value Nullable(Float64), threshold Nullable(Float64), weight Float64, detail String),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (org_id, campaign_id, flag_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- People's decisions, inserted by `fieldstream quality approve|void`; the newest review of a
-- flag holds.
CREATE TABLE IF NOT EXISTS quality_reviews
(
    review_id String,
    flag_id String,
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    decision LowCardinality(String),
    reviewer String,
    note String,
    reviewed_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (flag_id, reviewed_at, review_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Each flag as it stands: its newest version, its newest review, its status (pending,
-- approved, voided) and whether its work is held out of goal and coverage counts (held: the
-- campaign quarantines and no one approved it; a voided flag's work stays out too).
CREATE VIEW IF NOT EXISTS quality_flag_status AS
SELECT
    f.flag_id AS flag_id,
    toString(f.org_id) AS org_id,
    toString(f.campaign_id) AS campaign_id,
    toString(f.channel) AS channel,
    f.canvasser_id AS canvasser_id,
    f.shift_key AS shift_key,
    f.first_contact_at AS first_contact_at,
    f.last_contact_at AS last_contact_at,
    f.flagged_at AS flagged_at,
    f.updated_at AS updated_at,
    f.contacts AS contacts,
    f.score AS score,
    f.quarantine AS quarantine,
    f.checks.name AS checks_fired,
    f.checks.value AS checks_value,
    f.checks.threshold AS checks_threshold,
    f.checks.detail AS checks_detail,
    multiIf(r.decision = 'approve', 'approved', r.decision = 'void', 'voided', 'pending') AS status,
    r.last_reviewer AS reviewer,
    r.last_reviewed_at AS reviewed_at,
    toUInt8(status = 'voided' OR (f.quarantine = 1 AND status = 'pending')) AS held
FROM quality_flags AS f FINAL
LEFT JOIN
(
    SELECT
        flag_id,
        argMax(decision, reviewed_at) AS decision,
        argMax(reviewer, reviewed_at) AS last_reviewer,
        max(reviewed_at) AS last_reviewed_at
    FROM quality_reviews
    GROUP BY flag_id
) AS r ON f.flag_id = r.flag_id;

-- The contacts held out of the counts: those of a held flag's canvasser on its campaign and
-- channel within its window.
CREATE VIEW IF NOT EXISTS quality_held_events AS
SELECT e.event_id AS event_id, h.flag_id AS flag_id
FROM contact_events AS e FINAL
INNER JOIN
(
    SELECT flag_id, org_id, campaign_id, channel, canvasser_id, first_contact_at, last_contact_at
    FROM quality_flag_status
    WHERE held = 1
) AS h ON toString(e.org_id) = h.org_id AND toString(e.campaign_id) = h.campaign_id
    AND toString(e.channel) = h.channel AND e.canvasser_id = h.canvasser_id
WHERE e.occurred_at >= h.first_contact_at AND e.occurred_at <= h.last_contact_at;

-- The contacts that count toward goals and coverage: every contact but the held ones.
-- (attempt_key is MATERIALIZED, so SELECT * leaves it out: it is named.)
CREATE VIEW IF NOT EXISTS contact_events_counted AS
SELECT *, attempt_key
FROM contact_events FINAL
WHERE event_id NOT IN (SELECT event_id FROM quality_held_events);

-- Goals and coverage count contact_events_counted (quarantined work is out until approved).
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
    FROM contact_events_counted
    GROUP BY org_id, campaign_id, week_start
) AS a
ON toString(g.org_id) = a.org_id AND toString(g.campaign_id) = a.campaign_id AND g.week_start = a.week_start;

-- Coverage (universe_members_all, and universe_members and the effects over it) counts
-- contact_events_counted too.
CREATE OR REPLACE VIEW universe_members_all AS
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
    FROM contact_events_counted
    WHERE voter_id != ''
    GROUP BY org_id, campaign_id, state, voter_id
) AS a ON u.org_id = a.org_id AND u.campaign_id = a.campaign_id
    AND u.state = a.state AND u.voter_id = a.voter_id;
