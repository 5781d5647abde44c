"""``fieldstream verify``: recount every figure the boards read from the ledger, compare, repair.

How: the derived tables (every materialized view's target, and the board tables) are rebuilt
from the ledger into a shadow database by the very code that keeps them (sinks/cells.py,
sinks/board_tables.py; their statements are run with the table names pointed at the shadow
copies), then compared with the live tables figure by figure:

- rollups of uniqExact states: each group's finalised count (uniqExactMerge) per key;
- the board tables' sums: each key's sum;
- people (roaring bitmaps): each key's set, exactly (the size of the symmetric difference).

A figure that differs names its cell (org, campaign, local day); ``repair`` recounts those cells
in the live tables (sinks/cells.py). A live store keeps changing while it is verified: the cells
that received contacts after the keeper's last pass (its watermark, read first) are left out of
the comparison and counted as ``changing``; the next verify checks them.

The sink runs this every ``verify_interval_s`` over the recent days and exports the number of
differing figures per table as ``fieldstream_verify_differences``; ``fieldstream verify`` runs
it over everything.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sinks import board_tables, cells
from sinks.cells import Cell
from sinks.ledger import Sql
from sinks.sql import string_literal

log = logging.getLogger(__name__)

SHADOW = "fieldstream_verify"
BOARD_TABLES = board_tables.TABLES
EXAMPLES = 5


class Shadow:
    """A Sql whose statements write and read the shadow copies of the derived tables."""

    def __init__(self, sql: Sql, tables: Sequence[str]) -> None:
        self.sql = sql
        self.pattern = re.compile(r"(?<![\w.`])(" + "|".join(map(re.escape, tables)) + r")\b")

    def _to(self, text: str) -> str:
        return self.pattern.sub(lambda m: f"{SHADOW}.{m.group(1)}", text)

    def rows(self, sql: str) -> list[list[Any]]:
        return self.sql.rows(self._to(sql))

    def command(self, sql: str) -> None:
        self.sql.command(self._to(sql))

    def atomic(self) -> AbstractContextManager[Any]:
        return self.sql.atomic()


@dataclass
class Difference:
    table: str
    key: dict[str, Any]
    live: Any
    recount: Any


@dataclass
class Report:
    compared: dict[str, int] = field(default_factory=dict)  # table -> figures compared
    differing: dict[str, int] = field(default_factory=dict)  # table -> figures that differ
    examples: list[Difference] = field(default_factory=list)
    cells: set[Cell] = field(default_factory=set)
    campaigns: set[tuple[str, str]] = field(default_factory=set)  # whole-campaign repairs
    repaired: bool = False
    since: dt.date | None = None
    changing: int = 0  # figures of cells that received contacts while verify ran (not compared)

    @property
    def total(self) -> int:
        return sum(self.differing.values())

    def lines(self) -> Iterator[str]:
        scope = f"local days from {self.since}" if self.since else "every day"
        yield f"recounted every figure the boards read from contact_events ({scope})"
        for table in sorted(self.compared):
            n, bad = self.compared[table], self.differing.get(table, 0)
            yield f"  {table:<24} {n:>9,} figures  {bad:>6,} differ"
        for d in self.examples:
            key = ", ".join(f"{k}={v}" for k, v in d.key.items())
            yield f"  differs: {d.table} [{key}]: {d.live} stored, {d.recount} recounted"
        if self.changing:
            yield (
                f"  {self.changing:,} figures of cells receiving contacts meanwhile were not "
                "compared (the next verify does)"
            )
        if self.total == 0:
            yield "no difference"
        elif self.repaired:
            yield f"repaired: recounted {len(self.cells)} cell(s) from contact_events"
        else:
            yield f"{self.total} figure(s) differ in {len(self.cells)} cell(s); --repair fixes"


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    counts: tuple[tuple[str, str], ...]  # (column, how it is finalised: 'sum' or 'uniqExact')
    bitmaps: tuple[str, ...]


def describe(sql: Sql, name: str) -> Table:
    key = sql.rows(
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() "
        f"AND name = {string_literal(name)}"
    )
    keys = tuple(k.strip() for k in str(key[0][0]).split(",")) if key else ()
    columns = sql.rows(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
        f"AND table = {string_literal(name)} ORDER BY position"
    )
    counts, bitmaps = [], []
    for column, kind in columns:
        column, kind = str(column), str(kind)
        if column in keys:
            continue
        if kind.startswith("AggregateFunction(groupBitmap"):
            bitmaps.append(column)
        elif kind.startswith("AggregateFunction("):
            counts.append((column, kind[len("AggregateFunction(") :].split(",")[0]))
        elif re.match(r"^U?Int\d+$", kind):
            counts.append((column, "sum"))
    return Table(name, keys, tuple(counts), tuple(bitmaps))


def _side(t: Table, qualified: str, where: str) -> str:
    parts = [f"{'sum' if how == 'sum' else how + 'Merge'}({c}) AS {c}" for c, how in t.counts]
    parts += [f"groupBitmapMergeState({b}) AS {b}" for b in t.bitmaps]
    keys = ", ".join(t.keys)
    return f"SELECT {keys}, {', '.join(parts)} FROM {qualified}{where} GROUP BY {keys}"


def compare(sql: Sql, t: Table, where: str) -> tuple[int, list[dict[str, Any]]]:
    """(figures compared, differing rows as dicts: key columns, and live/recount per figure)."""
    keys = ", ".join(t.keys)
    live, shadow = _side(t, t.name, where), _side(t, f"{SHADOW}.{t.name}", where)
    differs = [f"toInt64(l.{c}) != toInt64(s.{c})" for c, _ in t.counts]
    differs += [f"bitmapXorCardinality(l.{b}, s.{b}) != 0" for b in t.bitmaps]
    shown = [f"l.{c}, s.{c}" for c, _ in t.counts]
    shown += [f"bitmapCardinality(l.{b}), bitmapCardinality(s.{b})" for b in t.bitmaps]
    joined = f"FROM ({live}) AS l FULL OUTER JOIN ({shadow}) AS s USING ({keys})"
    total = sql.rows(f"SELECT count() {joined} SETTINGS join_use_nulls = 0")
    n = int(total[0][0]) * (len(t.counts) + len(t.bitmaps)) if total else 0
    rows = sql.rows(
        f"SELECT {keys}, {', '.join(shown)} {joined} WHERE {' OR '.join(differs)} "
        "SETTINGS join_use_nulls = 0"
    )
    figures = [c for c, _ in t.counts] + list(t.bitmaps)
    out = []
    for r in rows:
        d = dict(zip(t.keys, r[: len(t.keys)], strict=True))
        values = r[len(t.keys) :]
        for i, name in enumerate(figures):
            d[f"{name}:live"], d[f"{name}:recount"] = values[2 * i], values[2 * i + 1]
        out.append(d)
    return n, out


def _figures_that_differ(row: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    out = []
    for k, v in row.items():
        if k.endswith(":live"):
            name = k[: -len(":live")]
            if v != row[f"{name}:recount"]:
                out.append((name, v, row[f"{name}:recount"]))
    return out


def cells_of(t: Table, row: dict[str, Any], zone_of: Callable[[str, str], str]) -> set[Cell] | None:
    """The cells a differing row of ``t`` belongs to (None: the whole campaign)."""
    org, campaign = str(row["org_id"]), str(row["campaign_id"])
    if "day" in row:
        return {Cell(org, campaign, _date(row["day"]))}
    if "bucket" in row:
        at = row["bucket"]
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        from zoneinfo import ZoneInfo

        return {Cell(org, campaign, at.astimezone(ZoneInfo(zone_of(org, campaign))).date())}
    if "week_start" in row:
        start = _date(row["week_start"])
        return {Cell(org, campaign, start + dt.timedelta(days=i)) for i in range(7)}
    return None


def _date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


WATERMARK = "inbox_watermark"  # the keeper's (sinks/keeper.py)


def watermark(sql: Sql) -> str | None:
    """How far the keeper has finalised (ISO text), or None before its first pass."""
    rows = sql.rows(f"SELECT argMax(value, updated_at) FROM keeper_state WHERE key = '{WATERMARK}'")
    return str(rows[0][0]) if rows and rows[0][0] else None


def in_flux(sql: Sql, mark: str | None) -> set[Cell]:
    """The cells that received contacts after the keeper's mark (changing under verify)."""
    if mark is None:
        return set()
    at = dt.datetime.fromisoformat(mark)
    rows = sql.rows(
        "SELECT DISTINCT toString(org_id), toString(campaign_id), local_day FROM contact_inbox "
        f"WHERE inserted_at > toDateTime64('{at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}', 3, "
        "'UTC')"
    )
    return {Cell(str(o), str(c), d) for o, c, d in rows}


def derived_tables(sql: Sql) -> list[str]:
    return [v.rollup.target for v in cells.materialized_views(sql)] + list(BOARD_TABLES)


def prepare_shadow(sql: Sql, tables: Sequence[str]) -> None:
    sql.command(f"CREATE DATABASE IF NOT EXISTS {SHADOW}")
    for name in tables:
        sql.command(f"DROP TABLE IF EXISTS {SHADOW}.{name}")
        sql.command(f"CREATE TABLE {SHADOW}.{name} AS {name}")


def campaigns(sql: Sql) -> list[tuple[str, str]]:
    rows = sql.rows(
        "SELECT DISTINCT toString(org_id), toString(campaign_id) FROM contact_events "
        "UNION DISTINCT SELECT DISTINCT toString(org_id), toString(campaign_id) FROM counts_daily"
    )
    return sorted((str(o), str(c)) for o, c in rows)


def _where(t: Table, since: dt.date | None) -> str:
    if since is None:
        return ""
    if "day" in t.keys:
        return f" WHERE day >= toDate('{since.isoformat()}')"
    if "bucket" in t.keys:
        return f" WHERE bucket >= toDateTime('{since - dt.timedelta(days=1)}', 'UTC')"
    if "week_start" in t.keys:
        return f" WHERE week_start >= toDate('{since.isoformat()}')"
    return ""


def verify(
    sql: Sql,
    zone_of: Callable[[str, str], str],
    *,
    repair: bool = False,
    since: dt.date | None = None,
) -> Report:
    """Recount (local days from ``since``, a Monday; None: everything), compare, and with
    ``repair`` recount the differing cells in the live tables."""
    if since is not None:
        since = since - dt.timedelta(days=since.weekday())
    report = Report(since=since)
    mark = watermark(sql)
    tables = derived_tables(sql)
    prepare_shadow(sql, tables)
    shadow = Shadow(sql, tables)
    everything = campaigns(sql)
    if since is None:
        cells.rewrite(shadow, [], zone_of, whole=everything)
    else:
        today = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        days = [since + dt.timedelta(days=i) for i in range((today - since).days + 1)]
        cells.rewrite(shadow, [Cell(o, c, d) for o, c in everything for d in days], zone_of)
        for org, campaign in everything:  # reach_ever is every day's union
            board_tables.rebuild_reach_ever(shadow, org, campaign)
    for name in tables:
        t = describe(sql, name)
        n, rows = compare(sql, t, _where(t, since))
        changing = in_flux(sql, mark)
        report.compared[name] = n
        bad = 0
        for row in rows:
            figures = _figures_that_differ(row)
            found = cells_of(t, row, zone_of)
            org_campaign = (str(row["org_id"]), str(row["campaign_id"]))
            if (
                found is None and any((c.org_id, c.campaign_id) == org_campaign for c in changing)
            ) or (found is not None and found & changing):
                report.changing += len(figures)
                continue
            bad += len(figures)
            if len(report.examples) < EXAMPLES and figures:
                key = {k: row[k] for k in t.keys}
                name_, live, recount = figures[0]
                report.examples.append(Difference(f"{name}.{name_}", key, live, recount))
            if found is None:
                report.campaigns.add((str(row["org_id"]), str(row["campaign_id"])))
            else:
                report.cells |= found
        report.differing[name] = bad
    if repair and (report.cells or report.campaigns):
        cells.rewrite(sql, report.cells, zone_of)
        for org, campaign in sorted(report.campaigns):
            board_tables.rebuild_reach_ever(sql, org, campaign)
        report.repaired = True
    for line in report.lines():
        log.info("verify: %s", line)
    return report
