"""Universe coverage as sets of people: each current universe cut into groups of members.

When a universe is loaded (or the voter file reloaded) the keeper numbers its members
(person_numbers) and writes universe_groups: one roaring bitmap of members per group, one
dimension at a time (the whole universe 'all', 'on_file', county, precinct, turf, race and
ethnicity with their source, sex, age band), with the voter file's demographics ('unknown'
for a member not on the file) and the precinct's mean position. Coverage is then an
intersection with the people the campaign attempted and reached (reach_ever): the views of
sinks/ddl/025_board_tables.sql count it exactly without reading a contact. A universe's
held-out members (sinks/ddl/018_holdouts.sql) are not in its groups: coverage is of the
targeted universe. They are one group of their own (dimension 'held_out'), so the holdout's
breaches (held-out voters the campaign attempted anyway) are an intersection too.
"""

from __future__ import annotations

import logging
from typing import Any

from sinks.board_tables import number_people
from sinks.ledger import Sql, campaign_scope
from sinks.sql import string_literal

log = logging.getLogger(__name__)

STAMP = "voters_stamp"  # keeper_state: the voters table as universe_groups were built from it
# the shape of universe_groups: a store whose stamp names another shape is built again whole
# (2: held-out members as the group 'held_out'; 3: the table made again with small granules,
# sinks/ddl/030_universe_groups_granules.sql)
SHAPE = "3"

DIMS = (
    "if(holdout = 1, [('held_out', '', '')], "
    "arrayFilter(g -> g.1 != 'on_file' OR coalesce(on_file, 0) = 1, ["
    "('all', '', ''), ('on_file', '', ''), ('county', county, ''), "
    "('precinct', concat(county, ' / ', precinct), ''), ('turf', turf_id, ''), "
    "('race', race, race_source), ('ethnicity', ethnicity, ethnicity_source), "
    "('sex', sex, ''), ('age_band', age_band, '')]))"
)


def members_sql(org_id: str, campaign_id: str, load_id: str) -> str:
    """Every member of one load, targeted (holdout = 0) or held out."""
    return (
        "SELECT state, voter_id, turf_id, loaded_at, holdout FROM universes FINAL "
        f"WHERE {campaign_scope(org_id, campaign_id)} "
        f"AND load_id = {string_literal(load_id)}"
    )


def _known(column: str) -> str:
    return f"if(on_file = 1 AND {column} != '', {column}, 'unknown')"


def build(sql: Sql, org_id: str, campaign_id: str, load_id: str) -> None:
    """universe_groups of one load (replacing that load's and older loads' groups)."""
    members = members_sql(org_id, campaign_id, load_id)
    number_people(sql, members)
    org, campaign, load = map(string_literal, (org_id, campaign_id, load_id))
    keys = f"(SELECT state, voter_id FROM ({members}))"
    voters = (
        "SELECT state, voter_id, county, precinct, toString(race) AS race, "
        "toString(race_source) AS race_source, toString(ethnicity) AS ethnicity, "
        "toString(ethnicity_source) AS ethnicity_source, toString(sex) AS sex, "
        "toString(age_band) AS age_band, precinct_lat, precinct_lon, toUInt8(1) AS on_file "
        f"FROM voters FINAL WHERE (state, voter_id) IN {keys}"
    )
    rows = (
        "SELECT p.no AS no, m.loaded_at AS loaded_at, m.holdout AS holdout, "
        "if(m.turf_id = '', 'none', m.turf_id) AS turf_id, v.on_file AS on_file, "
        f"{_known('v.county')} AS county, {_known('v.precinct')} AS precinct, "
        f"{_known('v.race')} AS race, {_known('v.race_source')} AS race_source, "
        f"{_known('v.ethnicity')} AS ethnicity, "
        f"{_known('v.ethnicity_source')} AS ethnicity_source, "
        f"{_known('v.sex')} AS sex, {_known('v.age_band')} AS age_band, "
        "v.precinct_lat AS lat, v.precinct_lon AS lon "
        f"FROM ({members}) AS m INNER JOIN (SELECT person, no FROM person_numbers WHERE person IN "
        f"(SELECT concat(state, ':', voter_id) FROM ({members}))) AS p "
        "ON p.person = concat(m.state, ':', m.voter_id) "
        f"LEFT JOIN ({voters}) AS v ON v.state = m.state AND v.voter_id = m.voter_id"
    )
    with sql.atomic():
        sql.command(
            "DELETE FROM universe_groups WHERE "
            f"org_id = {org} AND campaign_id = {campaign} AND load_id = {load}"
        )
        sql.command(
            "INSERT INTO universe_groups (org_id, campaign_id, load_id, loaded_at, dim, value, "
            "source, members, latitude, longitude) "
            f"SELECT {org}, {campaign}, {load}, max(loaded_at), g.1, g.2, g.3, "
            "groupBitmapState(no), avg(lat), avg(lon) "
            f"FROM ({rows}) ARRAY JOIN {DIMS} AS g GROUP BY g.1, g.2, g.3 "
            "SETTINGS join_use_nulls = 1"
        )
        sql.command(
            "DELETE FROM universe_groups WHERE "
            f"org_id = {org} AND campaign_id = {campaign} AND load_id != {load}"
        )
    log.info("built the coverage groups of %s / %s (load %s)", org_id, campaign_id, load_id)


def current_loads(sql: Sql) -> list[list[Any]]:
    """(org, campaign, newest load_id) of every universe."""
    return sql.rows(
        "SELECT toString(org_id), toString(campaign_id), argMax(load_id, loaded_at) "
        "FROM universes GROUP BY org_id, campaign_id ORDER BY 1, 2"
    )


def voters_stamp(sql: Sql) -> str:
    rows = sql.rows("SELECT count(), max(updated_at) FROM voters")
    return f"{SHAPE}/{rows[0][0]}:{rows[0][1]}" if rows else ""


def refresh(sql: Sql, stored_stamp: str) -> str:
    """Build the groups of every current universe not built yet (every one when the voters
    changed since ``stored_stamp``); returns the voters' stamp they are built from."""
    stamp = voters_stamp(sql)
    built = {
        (str(o), str(c), str(load))
        for o, c, load in sql.rows(
            "SELECT DISTINCT toString(org_id), toString(campaign_id), load_id FROM universe_groups"
        )
    }
    for org, campaign, load in current_loads(sql):
        key = (str(org), str(campaign), str(load))
        if key not in built or stamp != stored_stamp:
            build(sql, *key)
    return stamp
