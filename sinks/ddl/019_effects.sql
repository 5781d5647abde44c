-- What the program changed (docs/effects.md; fieldstream/effects/estimate.py computes the same
-- numbers from the same counts). For each campaign with a holdout and each election on file
-- for its universe's states, members are compared by arm: targeted (holdout = 0) against held
-- out (holdout = 1). after_program says whether the election came on or after the day the
-- universe was loaded; an earlier election is a check on the draw (its effect should be ~0).

-- The elections each campaign with a holdout can be measured on.
CREATE VIEW IF NOT EXISTS effect_elections AS
SELECT
    u.org_id AS org_id,
    u.campaign_id AS campaign_id,
    e.election_date AS election_date,
    toUInt8(e.election_date >= toDate(max(u.loaded_at))) AS after_program
FROM universe_current AS u
INNER JOIN vote_history_elections AS e ON u.state = e.state
WHERE (u.org_id, u.campaign_id) IN
    (SELECT org_id, campaign_id FROM universe_current WHERE holdout = 1)
GROUP BY u.org_id, u.campaign_id, e.election_date;

-- One row per member and election: arm, take-up (contacted) and outcome (voted).
CREATE VIEW IF NOT EXISTS effect_members AS
SELECT
    m.org_id AS org_id,
    m.campaign_id AS campaign_id,
    e.election_date AS election_date,
    e.after_program AS after_program,
    m.state AS state,
    m.voter_id AS voter_id,
    m.holdout AS holdout,
    m.contacted AS contacted,
    toUInt8(v.voter_id != '') AS voted,
    m.planned_channel AS planned_channel,
    m.turf_id AS turf_id,
    m.county AS county,
    m.precinct AS precinct,
    m.race AS race,
    m.race_source AS race_source,
    m.ethnicity AS ethnicity,
    m.ethnicity_source AS ethnicity_source,
    m.sex AS sex,
    m.age_band AS age_band
FROM universe_members_all AS m
INNER JOIN effect_elections AS e ON m.org_id = e.org_id AND m.campaign_id = e.campaign_id
LEFT JOIN
(
    SELECT DISTINCT state, voter_id, election_date FROM vote_history_current
) AS v ON m.state = v.state AND m.voter_id = v.voter_id AND e.election_date = v.election_date;

-- The four counts per arm, overall and by one pre-treatment attribute at a time: the channel
-- the plan meant to reach the voter by, race and ethnicity with their source, county, turf,
-- sex and age band.
CREATE VIEW IF NOT EXISTS effect_counts AS
SELECT
    org_id,
    campaign_id,
    election_date,
    after_program,
    g.1 AS dimension,
    g.2 AS value,
    g.3 AS source,
    countIf(holdout = 0) AS n_targeted,
    countIf(holdout = 0 AND voted = 1) AS voted_targeted,
    countIf(holdout = 0 AND contacted = 1) AS contacted_targeted,
    countIf(holdout = 0 AND contacted = 1 AND voted = 1) AS contacted_voted_targeted,
    countIf(holdout = 1) AS n_holdout,
    countIf(holdout = 1 AND voted = 1) AS voted_holdout,
    countIf(holdout = 1 AND contacted = 1) AS contacted_holdout,
    countIf(holdout = 1 AND contacted = 1 AND voted = 1) AS contacted_voted_holdout
FROM effect_members
ARRAY JOIN
[
    ('overall', 'all', ''),
    ('channel', planned_channel, ''),
    ('race', race, race_source),
    ('ethnicity', ethnicity, ethnicity_source),
    ('county', county, ''),
    ('turf', turf_id, ''),
    ('sex', sex, ''),
    ('age_band', age_band, '')
] AS g
GROUP BY org_id, campaign_id, election_date, after_program, dimension, value, source;

-- The estimates with 95% intervals (normal approximation; z = 1.959963984540054): turnout per arm, the
-- ITT, the contact rates and their difference (the first stage), the complier effect (CACE,
-- none when the first stage is below 0.01) and the naive contacted-vs-not difference. Rates
-- and effects are shares (0.012 = 1.2 points). smaller_arm is the group size shared outputs
-- suppress on.
CREATE VIEW IF NOT EXISTS effect_estimates AS
SELECT
    org_id,
    campaign_id,
    election_date,
    after_program,
    dimension,
    value,
    source,
    least(n_targeted, n_holdout) AS smaller_arm,
    n_targeted,
    n_holdout,
    contacted_holdout AS breaches,
    if(n_targeted > 0, voted_targeted / n_targeted, NULL) AS turnout_targeted,
    if(n_holdout > 0, voted_holdout / n_holdout, NULL) AS turnout_holdout,
    if(n_targeted > 0, contacted_targeted / n_targeted, NULL) AS contact_rate,
    if(n_holdout > 0, contacted_holdout / n_holdout, NULL) AS breach_rate,
    if(n_targeted > 1 AND n_holdout > 1, 1, 0) AS estimable,
    if(estimable = 1, turnout_targeted - turnout_holdout, NULL) AS itt,
    if(estimable = 1,
       turnout_targeted * (1 - turnout_targeted) / (n_targeted - 1)
       + turnout_holdout * (1 - turnout_holdout) / (n_holdout - 1), NULL) AS itt_var,
    sqrt(itt_var) AS itt_se,
    itt - 1.959963984540054 * itt_se AS itt_low,
    itt + 1.959963984540054 * itt_se AS itt_high,
    if(estimable = 1, contact_rate - breach_rate, NULL) AS first_stage,
    if(estimable = 1,
       contact_rate * (1 - contact_rate) / (n_targeted - 1)
       + breach_rate * (1 - breach_rate) / (n_holdout - 1), NULL) AS first_stage_var,
    if(estimable = 1,
       (contacted_voted_targeted - n_targeted * turnout_targeted * contact_rate)
           / (n_targeted - 1) / n_targeted
       + (contacted_voted_holdout - n_holdout * turnout_holdout * breach_rate)
           / (n_holdout - 1) / n_holdout, NULL) AS covariance,
    if(first_stage >= 0.01, itt / first_stage, NULL) AS cace,
    sqrt(greatest(itt_var + cace * cace * first_stage_var - 2 * cace * covariance, 0))
        / first_stage AS cace_se,
    cace - 1.959963984540054 * cace_se AS cace_low,
    cace + 1.959963984540054 * cace_se AS cace_high,
    if(contacted_targeted > 0 AND contacted_targeted < n_targeted,
       contacted_voted_targeted / contacted_targeted
       - (voted_targeted - contacted_voted_targeted) / (n_targeted - contacted_targeted),
       NULL) AS naive,
    voted_targeted,
    contacted_targeted,
    contacted_voted_targeted,
    voted_holdout,
    contacted_holdout,
    contacted_voted_holdout
FROM effect_counts;
