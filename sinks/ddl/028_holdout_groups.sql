-- A holdout's breaches from the keeper's bitmaps, not from the contacts: the held-out members
-- of each current universe are the group 'held_out' of universe_groups (sinks/coverage.py), so
-- held_out, breached and breached_contacted are the sizes of that group and of its
-- intersections with the people the campaign attempted and reached (reach_ever), like every
-- other coverage figure. The coverage board's "Universe covered" reads them; before, they
-- joined every universe member with every contact of the campaign on each refresh.
-- (universe_members_all, and holdout_breach_events, still read the contacts: for analysts,
-- not boards.)
CREATE OR REPLACE VIEW holdout_breaches AS
SELECT
    org_id,
    campaign_id,
    universe AS held_out,
    attempted AS breached,
    contacted AS breached_contacted
FROM universe_coverage_groups
WHERE dimension = 'held_out';

-- The groups by dimension leave out the whole universe, the members on file and the holdout.
CREATE OR REPLACE VIEW universe_coverage_by_group AS
SELECT org_id, campaign_id, dimension, value, source, universe, attempted, contacted,
    attempted_share, contacted_share, latitude, longitude
FROM universe_coverage_groups
WHERE dimension NOT IN ('all', 'on_file', 'held_out');
