-- Match rate: how many contacts found their person on the voter file, by source tool and day,
-- so a data manager sees which tool's matching to fix (a low rate means its people carry no
-- voter id, or ids that are not on the loaded file). Counts distinct event ids over FINAL, so a
-- redelivered event counts once, and its last enrichment decides whether it matched.
CREATE VIEW IF NOT EXISTS match_rate AS
SELECT
    toString(org_id) AS org_id,
    toString(campaign_id) AS campaign_id,
    toString(source_system) AS source_system,
    toDate(occurred_at) AS day,
    uniqExact(event_id) AS events,
    uniqExactIf(event_id, voter_matched = 1) AS matched,
    events - matched AS unmatched,
    matched / events AS match_rate
FROM contact_events FINAL
GROUP BY org_id, campaign_id, source_system, day;
