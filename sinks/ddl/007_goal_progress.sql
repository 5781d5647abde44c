-- Each goal with its actual: the metric over contact_events FINAL (distinct event ids or
-- people) in [week_start, week_start + 7 days) by occurred_at (UTC weeks, Monday first).
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
        uniqExact(event_id) AS attempts,
        uniqExactIf(event_id, is_contact = 1) AS contacts,
        uniqExactIf(event_id, has_id = 1) AS ids,
        uniqExactIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '') AS people_reached
    FROM contact_events FINAL
    GROUP BY org_id, campaign_id, week_start
) AS a
ON toString(g.org_id) = a.org_id AND toString(g.campaign_id) = a.campaign_id AND g.week_start = a.week_start;
