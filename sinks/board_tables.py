"""The finalised tables the boards read (sinks/ddl/025_board_tables.sql), kept from the rollups.

Two ways in, one result:

- as contacts arrive, the keeper (sinks/keeper.py) finalises the cells and buckets they
  touched (:func:`finalise_days`, :func:`finalise_buckets`), numbers their people
  (:func:`number_people`) and adds them to the reach bitmaps (:func:`add_reach`: a union, so
  reading the same rows twice changes nothing);
- when cells must shrink (a void, a fold, drift) sinks/cells.py rewrites the rollups and then
  calls :func:`rewrite` to recount these tables for the same cells.

Counts (counts_daily, counts_5m, match_daily) are the rollups' uniqExact states merged per
cell, so they stay exact whatever reached the rollups twice. People are roaring bitmaps of
person numbers (person_numbers), so people over any range, and coverage, are exact unions and
intersections instead of distinct counts over millions of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sinks.ledger import Sql, campaign_scope, counted_sql, dates, delete_rows
from sinks.sql import string_literal

# the board tables, each kept by this module
TABLES = ("counts_daily", "counts_5m", "match_daily", "goal_actuals", "reach_daily", "reach_ever")
DIMS = (
    "[('all', '', ''), ('race', toString(race), toString(race_source)), "
    "('ethnicity', toString(ethnicity), toString(ethnicity_source)), "
    "('sex', toString(sex), ''), ('age_band', toString(age_band), '')]"
)
GROUPS = "race, race_source, ethnicity, ethnicity_source, sex, age_band"
EVENT_MEASURES = (
    "contacts",
    "ids",
    "ids_support",
    "ids_undecided",
    "ids_oppose",
    "scripts_known",
    "scripts_completed",
)
PERSON = "concat(state, ':', voter_id)"


def _in_days(column: str, days: Sequence[dt.date] | None) -> str:
    return f" AND {column} IN ({dates(days)})" if days else ""


def _merged(names: Sequence[str]) -> str:
    return ", ".join(f"uniqExactMerge({n}) AS {n}" for n in names)


def replace_sums(
    sql: Sql, table: str, keys: Sequence[str], measures: Sequence[str], where: str, recount: str
) -> None:
    """Make ``table``'s sums over the rows of ``where`` equal ``recount`` (a SELECT of ``keys``
    and ``measures``): one INSERT of the differences, so readers never see a half-done cell."""
    k = ", ".join(keys)
    held = ", ".join(f"sum({m}) AS {m}" for m in measures)
    diff = ", ".join(f"toInt64(n.{m}) - toInt64(o.{m})" for m in measures)
    changed = " OR ".join(f"toInt64(n.{m}) != toInt64(o.{m})" for m in measures)
    sql.command(
        f"INSERT INTO {table} ({k}, {', '.join(measures)}) SELECT {k}, {diff} "
        f"FROM ({recount}) AS n FULL OUTER JOIN "
        f"(SELECT {k}, {held} FROM {table} WHERE {where} GROUP BY {k}) AS o USING ({k}) "
        f"WHERE {changed} SETTINGS join_use_nulls = 0"
    )


DAILY_KEYS = ("org_id", "campaign_id", "day", "channel", "by_group", *GROUPS.split(", "))
DAILY_MEASURES = ("attempts", *EVENT_MEASURES)


def finalise_days(sql: Sql, org_id: str, campaign_id: str, days: Sequence[dt.date] | None) -> None:
    """counts_daily and match_daily for those local days (None: every day) from the daily
    rollups, then goal_actuals for their weeks."""
    where = f"{campaign_scope(org_id, campaign_id)}{_in_days('day', days)}"
    measures = _merged(DAILY_MEASURES)
    totals = ", ".join(f"'' AS {g}" for g in GROUPS.split(", "))
    recount = (
        f"SELECT org_id, campaign_id, day, channel, toUInt8(1) AS by_group, {GROUPS}, {measures} "
        f"FROM contact_rollup_daily WHERE {where} "
        f"GROUP BY org_id, campaign_id, day, channel, {GROUPS} "
        f"UNION ALL SELECT org_id, campaign_id, day, channel, toUInt8(0) AS by_group, {totals}, "
        f"{measures} FROM contact_rollup_daily WHERE {where} "
        "GROUP BY org_id, campaign_id, day, channel"
    )
    replace_sums(sql, "counts_daily", DAILY_KEYS, DAILY_MEASURES, where, recount)
    replace_sums(
        sql,
        "match_daily",
        ("org_id", "campaign_id", "day", "source_system"),
        ("events", "matched"),
        where,
        "SELECT org_id, campaign_id, day, source_system, uniqExactMerge(events) AS events, "
        f"uniqExactMerge(matched) AS matched FROM match_rollup_daily WHERE {where} "
        "GROUP BY org_id, campaign_id, day, source_system",
    )
    weeks = None if days is None else sorted({d - dt.timedelta(days=d.weekday()) for d in days})
    finalise_weeks(sql, org_id, campaign_id, weeks)


def finalise_weeks(
    sql: Sql, org_id: str, campaign_id: str, weeks: Sequence[dt.date] | None
) -> None:
    """goal_actuals for those local weeks (their Mondays; None: every week)."""
    scope = campaign_scope(org_id, campaign_id)
    in_weeks = _in_days("toMonday(day)", weeks)
    org, campaign = string_literal(org_id), string_literal(campaign_id)
    recount = (
        f"SELECT {org} AS org_id, {campaign} AS campaign_id, week AS week_start, "
        "a.attempts AS attempts, a.contacts AS contacts, a.ids AS ids, "
        "p.people AS people_reached "
        "FROM (SELECT toMonday(day) AS week, sum(attempts) AS attempts, "
        "sum(contacts) AS contacts, sum(ids) AS ids "
        f"FROM counts_daily WHERE {scope} AND by_group = 0{in_weeks} GROUP BY week) AS a "
        "FULL OUTER JOIN (SELECT toMonday(day) AS week, groupBitmapMerge(reached) AS people "
        f"FROM reach_daily WHERE {scope} AND dim = 'all'{in_weeks} GROUP BY week) AS p "
        "USING week"
    )
    replace_sums(
        sql,
        "goal_actuals",
        ("org_id", "campaign_id", "week_start"),
        ("attempts", "contacts", "ids", "people_reached"),
        f"{scope}{_in_days('week_start', weeks)}",
        recount,
    )


def finalise_buckets(
    sql: Sql,
    org_id: str,
    campaign_id: str,
    buckets: Sequence[dt.datetime] | None = None,
    *,
    days: Sequence[dt.date] | None = None,
    zone: str = "UTC",
) -> None:
    """counts_5m for those five-minute buckets, or for every bucket of those local days
    (neither: every bucket) from the five-minute rollup."""
    where = campaign_scope(org_id, campaign_id)
    if buckets:
        stamps = ", ".join(f"toDateTime('{b:%Y-%m-%d %H:%M:%S}', 'UTC')" for b in set(buckets))
        where += f" AND bucket IN ({stamps})"
    elif days:
        where += f" AND toDate(bucket, {string_literal(zone)}) IN ({dates(days)})"
    replace_sums(
        sql,
        "counts_5m",
        ("org_id", "campaign_id", "bucket", "channel"),
        EVENT_MEASURES,
        where,
        f"SELECT org_id, campaign_id, bucket, channel, {_merged(EVENT_MEASURES)} "
        f"FROM contact_rollup_5m WHERE {where} GROUP BY org_id, campaign_id, bucket, channel",
    )


def number_people(sql: Sql, source: str) -> int:
    """Give every person (state:voter_id) of ``source`` (a SELECT with state and voter_id)
    without a number the next numbers; the keeper is the only writer. Returns how many."""
    people = f"SELECT DISTINCT {PERSON} AS person FROM ({source}) WHERE voter_id != ''"
    with sql.atomic():
        top = sql.rows("SELECT max(no) FROM person_numbers")
        base = int(top[0][0] or 0) if top else 0
        new = sql.rows(
            f"SELECT count() FROM ({people}) WHERE person NOT IN "
            f"(SELECT person FROM person_numbers WHERE person IN ({people}))"
        )
        count = int(new[0][0]) if new else 0
        if count:
            sql.command(
                "INSERT INTO person_numbers (person, no) "
                f"SELECT person, toUInt32({base} + row_number() OVER (ORDER BY person)) "
                f"FROM ({people}) WHERE person NOT IN "
                f"(SELECT person FROM person_numbers WHERE person IN ({people}))"
            )
    return count


def _numbered(source: str) -> str:
    """``source``'s rows with a voter id, with their person number ``no``."""
    return (
        f"SELECT s.*, p.no AS no FROM ({source}) AS s INNER JOIN "
        f"(SELECT person, no FROM person_numbers WHERE person IN "
        f"(SELECT {PERSON} FROM ({source}) WHERE voter_id != '')) AS p "
        f"ON p.person = concat(s.state, ':', s.voter_id) WHERE s.voter_id != ''"
    )


def add_reach(sql: Sql, source: str) -> None:
    """Add the people of ``source`` (rows with org_id, campaign_id, local_day, channel,
    state, voter_id, is_contact and the demographics) to reach_daily and reach_ever."""
    numbered = _numbered(source)
    sql.command(
        "INSERT INTO reach_daily SELECT org_id, campaign_id, d.1, local_day, channel, d.2, d.3, "
        "groupBitmapState(no), groupBitmapStateIf(no, is_contact = 1) "
        f"FROM ({numbered}) ARRAY JOIN {DIMS} AS d "
        "GROUP BY org_id, campaign_id, d.1, local_day, channel, d.2, d.3"
    )
    sql.command(
        "INSERT INTO reach_ever SELECT org_id, campaign_id, groupBitmapState(no), "
        f"groupBitmapStateIf(no, is_contact = 1) FROM ({numbered}) GROUP BY org_id, campaign_id"
    )


def rewrite_reach(
    sql: Sql,
    org_id: str,
    campaign_id: str,
    days: Sequence[dt.date] | None,
    source: str | None = None,
    *,
    ever: bool = True,
) -> None:
    """reach_daily for those days (None: every day) recounted from the counted contacts
    (``source``, a SELECT of them; by default read from the ledger), and the campaign's
    reach_ever rebuilt from it (``ever=False``: left to the caller, who recounts more days
    first: the rebuild reads every day of the campaign)."""
    scope = campaign_scope(org_id, campaign_id)
    if source is None:
        source = counted_sql(org_id, campaign_id, days)
    number_people(sql, source)
    numbered = _numbered(source)
    with sql.atomic():
        delete_rows(sql, "reach_daily", f"{scope}{_in_days('day', days)}")
        sql.command(
            "INSERT INTO reach_daily SELECT org_id, campaign_id, d.1, local_day, channel, d.2, "
            "d.3, groupBitmapState(no), groupBitmapStateIf(no, is_contact = 1) "
            f"FROM ({numbered}) ARRAY JOIN {DIMS} AS d "
            "GROUP BY org_id, campaign_id, d.1, local_day, channel, d.2, d.3"
        )
    if ever:
        rebuild_reach_ever(sql, org_id, campaign_id)


def rebuild_reach_ever(sql: Sql, org_id: str, campaign_id: str) -> None:
    """A campaign's reach_ever as the union of its reach_daily."""
    scope = campaign_scope(org_id, campaign_id)
    with sql.atomic():
        delete_rows(sql, "reach_ever", scope)
        sql.command(
            "INSERT INTO reach_ever SELECT org_id, campaign_id, groupBitmapMergeState(attempted), "
            f"groupBitmapMergeState(reached) FROM reach_daily WHERE {scope} AND dim = 'all' "
            "GROUP BY org_id, campaign_id"
        )


def rewrite(
    sql: Sql,
    org_id: str,
    campaign_id: str,
    days: Sequence[dt.date] | None,
    zone: str,
    source: str | None = None,
    *,
    ever: bool = True,
) -> None:
    """Every board table of those cells, after sinks/cells.py rewrote the rollups (``source``
    and ``ever``: as :func:`rewrite_reach` takes them)."""
    finalise_buckets(sql, org_id, campaign_id, days=days, zone=zone)
    rewrite_reach(sql, org_id, campaign_id, days, source, ever=ever)
    finalise_days(sql, org_id, campaign_id, days)
