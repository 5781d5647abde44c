-- The rollup finalised: plain UInt64 counts per day and group.
CREATE VIEW IF NOT EXISTS contact_progress_daily AS
SELECT
    org_id,
    campaign_id,
    channel,
    day,
    precinct,
    any(county) AS county,
    race,
    race_source,
    ethnicity,
    sex,
    age_band,
    uniqExactMerge(attempts) AS attempts,
    uniqExactMerge(contacts) AS contacts,
    uniqExactMerge(ids) AS ids,
    uniqExactMerge(ids_support) AS ids_support,
    uniqExactMerge(ids_undecided) AS ids_undecided,
    uniqExactMerge(ids_oppose) AS ids_oppose,
    uniqExactMerge(people_reached) AS people_reached
FROM contact_rollup_daily
GROUP BY org_id, campaign_id, channel, day, precinct, race, race_source, ethnicity, sex, age_band;
