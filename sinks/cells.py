"""Recount cells: the one way every derived table is put right from the ledger.

contact_events is the ledger. Every rollup is derived from it, and every correction to a
rollup (drift after a crash between a table's insert and its view's, a void or its undoing, a
contact folded into its copy from another path, a time zone edit) is the same operation:
recount these cells from the contacts that count, and put the recount in place of what the
rollup holds for them.

A cell is (org, campaign, local day). Rewriting a cell of a rollup deletes the rollup's rows
for that day (lightweight DELETE) and inserts the recount over ``contact_events FINAL`` minus
the suppressed events (sinks/ddl/024_corrections.sql). The recount is the rollup's own
materialized view query (read back from ``system.tables.as_select``), run over the cell's
contacts instead of an inserted block: one definition, so the recount cannot drift from the
view. A contact inserted while a cell is rewritten is not lost: the view adds its states after
the DELETE, or the recount reads it; uniqExact states make both at once harmless.

The finalised tables the boards read (sinks/board_tables.py) are recounted right after the
views, for the same cells.

Many days (a campaign recounted whole: a store with no keeper mark, a zone change, verify) go
a local month at a time, and a month a run of days at a time (:func:`steps`). A month's counted
contacts are read from the ledger once (``FINAL`` over the partitions its days touch) into a
staging table sorted by local day (:func:`staged`); each run, and each of the several
statements that recount it, reads only its own days from there. Read straight from the ledger,
every statement of every run read the whole month again, since the ledger is sorted by event
id and a run's days cannot be picked out of a partition without reading all of it: the cost
grew with the square of a campaign's size.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import StoreError
from sinks import board_tables
from sinks.ledger import LEDGER, Sql, campaign_scope, counted_sql, dates, delete_rows
from sinks.sql import datetime64, string_literal

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Cell:
    org_id: str
    campaign_id: str
    day: dt.date


@dataclass(frozen=True)
class Rollup:
    """How a materialized view's target is cut into cells: by a local-day column, or by a
    UTC time column whose local day (in the campaign's zone) is the cell's."""

    target: str
    day_column: str
    time_column: str | None = None


# every materialized view over contact_events, and how its target is cut into cells; a view
# not listed here makes verify and rewrite refuse to run (it could not be recounted)
ROLLUPS: dict[str, Rollup] = {
    "contact_rollup_daily_mv": Rollup("contact_rollup_daily", "day"),
    "canvasser_rollup_daily_mv": Rollup("canvasser_rollup_daily", "day"),
    "match_rollup_daily_mv": Rollup("match_rollup_daily", "day"),
    "contact_rollup_5m_mv": Rollup("contact_rollup_5m", "bucket", time_column="bucket"),
}
# not counts: the keeper's feed, and a monitoring figure; never recounted
QUEUES = {"contact_inbox_mv", "freshness_5m_mv"}


@dataclass(frozen=True)
class View:
    name: str
    rollup: Rollup
    select: str  # the view's query, as ClickHouse stored it
    columns: tuple[str, ...]


_FROM_LEDGER = re.compile(r"\bFROM\s+(?:`?\w+`?\.)?`?contact_events`?(?=[\s)]|$)", re.I)


def materialized_views(sql: Sql) -> list[View]:
    """The materialized views over contact_events that hold counts, with their queries."""
    found = sql.rows(
        "SELECT name, as_select FROM system.tables "
        "WHERE database = currentDatabase() AND engine = 'MaterializedView' ORDER BY name"
    )
    out = []
    for name, select in found:
        if not _FROM_LEDGER.search(str(select)) or name in QUEUES:
            continue
        rollup = ROLLUPS.get(str(name))
        if rollup is None:
            raise StoreError(
                f"materialized view {name} reads contact_events but sinks/cells.py does not "
                "know how to recount it: add it to ROLLUPS"
            )
        columns = sql.rows(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            f"AND table = {string_literal(str(name))} ORDER BY position"
        )
        out.append(View(str(name), rollup, str(select), tuple(str(c[0]) for c in columns)))
    return out


def materialized_columns(sql: Sql, table: str = LEDGER) -> list[str]:
    rows = sql.rows(
        "SELECT name FROM system.columns WHERE database = currentDatabase() "
        f"AND table = {string_literal(table)} AND default_kind = 'MATERIALIZED' ORDER BY position"
    )
    return [str(r[0]) for r in rows]


def cell_filter(rollup: Rollup, days: Sequence[dt.date] | None, zone: str) -> str:
    """The condition on a rollup's rows for those local days (empty: every day)."""
    if not days:
        return ""
    if rollup.time_column is not None:
        return f" AND toDate({rollup.time_column}, {string_literal(zone)}) IN ({dates(days)})"
    return f" AND {rollup.day_column} IN ({dates(days)})"


def recount_select(view: View, source: str) -> str:
    """The view's own query over ``source`` (a SELECT) in place of contact_events."""
    select, n = _FROM_LEDGER.subn(f"FROM ({source}) AS contact_events", view.select, count=1)
    if n != 1:
        raise StoreError(f"cannot find FROM contact_events in the query of {view.name}")
    return select


def rewrite_view(
    sql: Sql,
    view: View,
    org_id: str,
    campaign_id: str,
    days: Sequence[dt.date] | None,
    zone: str,
    extra_columns: Sequence[str],
    source: str | None = None,
) -> None:
    """Delete the view's target rows of those cells, insert their recount (over ``source``, a
    SELECT of those cells' counted contacts; by default read from the ledger)."""
    target = view.rollup.target
    org, campaign = string_literal(org_id), string_literal(campaign_id)
    delete_rows(
        sql,
        target,
        f"org_id = {org} AND campaign_id = {campaign}" + cell_filter(view.rollup, days, zone),
    )
    if source is None:
        source = counted_sql(org_id, campaign_id, days, extra_columns)
    columns = ", ".join(view.columns)
    sql.command(f"INSERT INTO {target} ({columns}) {recount_select(view, source)}")


def by_campaign(cells: Iterable[Cell]) -> dict[tuple[str, str], list[dt.date]]:
    out: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
    for cell in cells:
        out[(cell.org_id, cell.campaign_id)].append(cell.day)
    return {k: sorted(set(v)) for k, v in out.items()}


# a recount reads at most about this many contacts per statement (more when one local day has
# more): the rollups' recount holds a uniqExact state per group in memory, gigabytes per million
# contacts, so a campaign of a cycle is recounted a few days at a time
STEP_CONTACTS = 500_000


def steps(
    sql: Sql,
    org_id: str,
    campaign_id: str,
    days: Sequence[dt.date],
    limit: int | None = None,
    *,
    table: str = LEDGER,
) -> list[list[dt.date]]:
    """``days`` cut into runs of consecutive local days of at most ``limit`` (STEP_CONTACTS)
    contacts in ``table`` (a day of more is a run of its own)."""
    limit = STEP_CONTACTS if limit is None else limit
    scope = campaign_scope(org_id, campaign_id)
    counts = {
        d: int(n)
        for d, n in sql.rows(
            f"SELECT local_day, count() FROM {table} WHERE {scope} "
            f"AND local_day IN ({dates(days)}) GROUP BY local_day"
        )
    }
    out: list[list[dt.date]] = []
    held = 0
    for day in sorted(set(days)):
        n = counts.get(day, 0)
        if not out or held + n > limit:
            out.append([])
            held = 0
        out[-1].append(day)
        held += n
    return [run for run in out if run]


def months(days: Iterable[dt.date]) -> list[list[dt.date]]:
    """``days`` by local month, in order."""
    out: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for day in sorted(set(days)):
        out[(day.year, day.month)].append(day)
    return [out[m] for m in sorted(out)]


STAGE_PREFIX = "recount_stage_"


def drop_stale_stages(sql: Sql, older_than_s: float = 86_400) -> list[str]:
    """Drop staging tables made more than ``older_than_s`` ago (a recount reads one for a few
    minutes at most; an older one was left by a process that died in a recount). A staging
    table's name holds when it was made (chDB reports no metadata_modification_time)."""
    names = sql.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        f"AND startsWith(name, {string_literal(STAGE_PREFIX)})"
    )
    stale = []
    for (name,) in names:
        made = str(name).removeprefix(STAGE_PREFIX).split("_")[0]
        if not made.isdigit() or int(made) <= time.time() - older_than_s:
            sql.command(f"DROP TABLE IF EXISTS {name} SYNC")
            stale.append(str(name))
    return stale


@dataclass(frozen=True)
class Stage:
    """The counted contacts of some days, copied once from the ledger (:func:`staged`)."""

    table: str
    org_id: str
    campaign_id: str
    extra_columns: tuple[str, ...]
    since: dt.datetime  # the store's clock, a minute before the copy began

    def source(self, days: Sequence[dt.date]) -> str:
        """The counted contacts of those days (of the stage's): the copy, and the contacts
        the sink stored since it began. A recount deletes a cell's rows and then inserts its
        recount; a contact stored between the copy and that DELETE had its states added by the
        views, and the DELETE took them away again, so it is read again here (through the
        inbox, which is sorted by insertion). Read twice changes nothing: uniqExact states
        and bitmaps."""
        inbox = (
            f"SELECT event_id FROM contact_inbox WHERE inserted_at >= {datetime64(self.since)} "
            f"AND {campaign_scope(self.org_id, self.campaign_id)} AND local_day IN ({dates(days)})"
        )
        late = counted_sql(
            self.org_id,
            self.campaign_id,
            days,
            self.extra_columns,
            condition=f"event_id IN ({inbox})",
        )
        return f"SELECT * FROM {self.table} WHERE local_day IN ({dates(days)}) UNION ALL {late}"


@contextmanager
def staged(
    sql: Sql, org_id: str, campaign_id: str, days: Sequence[dt.date], extra_columns: Sequence[str]
) -> Iterator[Stage]:
    """The counted contacts of those days copied into a table with ``extra_columns`` (the
    ledger's MATERIALIZED ones, which ``SELECT *`` leaves out) as plain columns, sorted by
    local day so a run of days reads only its own granules; dropped on leaving.

    Own code rather than a ClickHouse feature: the ledger is sorted by event id (what
    ReplacingMergeTree collapses copies on), so neither a WHERE on the local day nor
    ``do_not_merge_across_partitions_select_final`` keeps a statement from reading every
    granule of the partitions it touches; a temporary table would hold the month in memory
    (Memory engine) or vanish between statements on a server without a session."""
    now = sql.rows("SELECT now64(3, 'UTC') - toIntervalSecond(60)")[0][0]
    since = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    name = f"{STAGE_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:12]}"
    source = counted_sql(org_id, campaign_id, days, extra_columns)
    sql.command(f"CREATE TABLE {name} ENGINE = MergeTree ORDER BY local_day AS {source}")
    try:
        yield Stage(name, org_id, campaign_id, tuple(extra_columns), since)
    finally:
        sql.command(f"DROP TABLE IF EXISTS {name} SYNC")


def ledger_days(sql: Sql, org_id: str, campaign_id: str) -> list[dt.date]:
    scope = campaign_scope(org_id, campaign_id)
    return [r[0] for r in sql.rows(f"SELECT DISTINCT local_day FROM {LEDGER} WHERE {scope}")]


def clear(sql: Sql, org_id: str, campaign_id: str, views: Sequence[View]) -> None:
    """Every row of the campaign in the views' targets and the board tables (before a recount
    of every day: days no contact is on any more, after a zone change, are left empty)."""
    scope = campaign_scope(org_id, campaign_id)
    for table in [v.rollup.target for v in views] + list(board_tables.TABLES):
        delete_rows(sql, table, scope)


def rewrite(
    sql: Sql,
    cells: Iterable[Cell],
    zone_of: Callable[[str, str], str],
    *,
    whole: Iterable[tuple[str, str]] = (),
    views: bool = True,
) -> int:
    """Recount every derived table for ``cells`` (and every day of the campaigns in
    ``whole``); returns how many (org, campaign) it rewrote. ``views=False``: the board tables
    only (the views' targets are known right). The days are recounted a local month at a time
    from a staging table (:func:`staged`), a run of days at a time (:func:`steps`)."""
    todo: dict[tuple[str, str], list[dt.date] | None] = dict(by_campaign(cells))
    for key in whole:
        todo[key] = None
    if not todo:
        return 0
    found = materialized_views(sql) if views else []
    extra = materialized_columns(sql)
    for (org_id, campaign_id), days in sorted(todo.items()):
        zone = zone_of(org_id, campaign_id)
        if days is None:
            clear(sql, org_id, campaign_id, found)
        for month in months(ledger_days(sql, org_id, campaign_id) if days is None else days):
            with staged(sql, org_id, campaign_id, month, extra) as stage:
                for run in steps(sql, org_id, campaign_id, month, table=stage.table):
                    source = stage.source(run)
                    for view in found:
                        rewrite_view(sql, view, org_id, campaign_id, run, zone, extra, source)
                    board_tables.rewrite(sql, org_id, campaign_id, run, zone, source, ever=False)
        board_tables.rebuild_reach_ever(sql, org_id, campaign_id)  # once: it reads every day
        log.info(
            "recounted %s / %s: %s",
            org_id,
            campaign_id,
            "every day" if days is None else f"{len(days)} day(s)",
        )
    return len(todo)
