-- Retractions partners (and our own exchange agent, for our copy) send when a shared contact is
-- voided or was a second copy of one contact; the newest per shared contact wins. The
-- coalition views leave retracted contacts out.
CREATE TABLE IF NOT EXISTS partner_retractions
(
    partner LowCardinality(String),
    shared_event_id String,
    partner_id LowCardinality(String),
    sharing_org LowCardinality(String),
    key_id LowCardinality(String),
    retracted UInt8,
    reason LowCardinality(String),
    decided_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(decided_at)
ORDER BY (partner, shared_event_id)
SETTINGS non_replicated_deduplication_window = 1000;

DROP VIEW IF EXISTS coalition_universe_coverage;

DROP VIEW IF EXISTS coalition_universe_members;

DROP VIEW IF EXISTS coalition_contacted_today;

DROP VIEW IF EXISTS coalition_contacts;

CREATE VIEW IF NOT EXISTS coalition_contacts AS
SELECT
    partner,
    toUInt8(partner = 'self') AS ours,
    shared_event_id,
    sharing_org,
    key_id,
    assumeNotNull(person_pseudonym) AS person_pseudonym,
    person_id_kind,
    occurred_at,
    occurred_precision,
    channel,
    result,
    toUInt8(coalesce(result = 'canvassed', 0) OR length(responses.question_id) > 0) AS is_contact,
    state,
    county,
    congressional_district,
    precinct,
    age_band,
    sex,
    race,
    race_source,
    ethnicity,
    ethnicity_source,
    agreement_id,
    agreement_version
FROM partner_contacts FINAL
WHERE person_pseudonym IS NOT NULL
    AND (partner, shared_event_id) NOT IN
        (SELECT partner, shared_event_id FROM partner_retractions FINAL WHERE retracted = 1);

-- "Contacted by anyone in the coalition today", today on a clock you name:
-- coalition_contacted_today(tz = 'America/Chicago').
CREATE VIEW IF NOT EXISTS coalition_contacted_today AS
SELECT
    key_id,
    person_pseudonym,
    count() AS attempts,
    countIf(ours = 1) AS by_us,
    countIf(ours = 0) AS by_partners,
    arraySort(groupUniqArrayIf(partner, ours = 0)) AS partners,
    max(is_contact) AS contacted,
    max(occurred_at) AS last_occurred_at
FROM coalition_contacts
WHERE toDate(occurred_at, {tz:String}) = toDate(now(), {tz:String})
GROUP BY key_id, person_pseudonym;

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
