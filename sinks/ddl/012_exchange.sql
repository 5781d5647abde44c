-- The data exchange (docs/exchange.md): partners' contacts and our own as pseudonyms, the
-- audit of what we shared, our voters' pseudonyms, and the coalition views over them.
--
-- partner_contacts holds SharedContact records as they arrived: from each partner's topic
-- (partner = the name our settings give it) and our own contacts shared to ourselves by our
-- exchange agent (partner = 'self'), so both carry pseudonyms made with the same key and line
-- up on (key_id, person_pseudonym). A field the sender's agreement does not share is NULL.
-- A redelivered record collapses on (partner, shared_event_id); a re-share under new terms
-- replaces the older version (the newest insert wins).
CREATE TABLE IF NOT EXISTS partner_contacts
(
    partner LowCardinality(String),
    shared_event_id String,
    partner_id LowCardinality(String),
    sharing_org LowCardinality(String),
    agreement_id LowCardinality(String),
    agreement_version LowCardinality(String),
    key_id LowCardinality(String),
    shared_at DateTime64(3, 'UTC'),
    occurred_at DateTime64(3, 'UTC'),
    occurred_precision LowCardinality(String),
    person_pseudonym Nullable(String),
    person_id_kind LowCardinality(Nullable(String)),
    channel LowCardinality(Nullable(String)),
    result LowCardinality(Nullable(String)),
    responses Nested(question_id String, answer Nullable(String), support_level Nullable(UInt8)),
    activist_codes Array(String),
    canvasser_pseudonym Nullable(String),
    geography_level LowCardinality(String),
    state LowCardinality(Nullable(String)),
    county LowCardinality(Nullable(String)),
    congressional_district LowCardinality(Nullable(String)),
    precinct LowCardinality(Nullable(String)),
    age_band LowCardinality(Nullable(String)),
    sex LowCardinality(Nullable(String)),
    race LowCardinality(Nullable(String)),
    race_source LowCardinality(Nullable(String)),
    ethnicity LowCardinality(Nullable(String)),
    ethnicity_source LowCardinality(Nullable(String)),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (partner, shared_event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per record version a partner received: our event id and campaign beside the shared
-- id and the terms (agreement id + version) that allowed it. Written by our agent to its audit
-- topic; a redelivery keeps the FIRST sharing time (ReplacingMergeTree on the reversed time).
CREATE TABLE IF NOT EXISTS exchange_audit
(
    partner_id LowCardinality(String),
    shared_event_id String,
    agreement_id LowCardinality(String),
    agreement_version LowCardinality(String),
    key_id LowCardinality(String),
    event_id String,
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    shared_at DateTime64(3, 'UTC'),
    first_shared UInt64 MATERIALIZED toUInt64(32503680000000 - toUnixTimestamp64Milli(shared_at))
)
ENGINE = ReplacingMergeTree(first_shared)
ORDER BY (partner_id, shared_event_id, agreement_id, agreement_version)
SETTINGS non_replicated_deduplication_window = 1000;

-- Our voters' person pseudonyms under each exchange key (fieldstream exchange pseudonymise),
-- so our universe lines up with partners' contacts. Only the exchange holds the keys.
CREATE TABLE IF NOT EXISTS voter_pseudonyms
(
    state String,
    voter_id String,
    key_id LowCardinality(String),
    person_pseudonym String
)
ENGINE = ReplacingMergeTree
ORDER BY (state, voter_id, key_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Every coalition contact with a person pseudonym, ours (ours = 1) and partners'.
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
WHERE person_pseudonym IS NOT NULL;

-- "Contacted by anyone in the coalition today" (UTC day), one row per person pseudonym: join
-- voter_pseudonyms on (key_id, person_pseudonym) to find our voter.
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
WHERE toDate(occurred_at, 'UTC') = toDate(now(), 'UTC')
GROUP BY key_id, person_pseudonym;

-- Each current universe member (universe_members) with whether a partner attempted or
-- contacted them (under any key period), and the coalition's union of the two.
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

-- Coalition coverage of each current universe: ours, partners', and the union.
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
