"""The live terminal board: progress to goal, today's totals, coverage, voter match, dead
letters, flow.

:func:`fetch_snapshot` runs the panels' SQL (fieldstream.queries) through any
``query(sql) -> (columns, rows)`` callable; :func:`render` turns a Snapshot into a rich
renderable and does no I/O; :func:`run_board` refreshes them every ~2 s. A failing query shows
as a message on the board, never ends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from fieldstream import queries

log = logging.getLogger(__name__)

Query = Callable[[str], tuple[list[str], list[list[Any]]]]
WEEK_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class GoalRow:
    org_id: str
    campaign_id: str
    metric: str
    target: int
    actual: int
    pace: float  # target * elapsed fraction of the week


@dataclass(frozen=True)
class ChannelRow:
    channel: str
    attempts: int
    contacts: int
    ids: int
    support: int
    undecided: int
    oppose: int

    @property
    def contact_rate(self) -> float:
        return self.contacts / self.attempts if self.attempts else 0.0


@dataclass(frozen=True)
class GroupRow:
    label: str
    attempts: int
    contacts: int
    ids: int


@dataclass(frozen=True)
class CoverageRow:
    org_id: str
    campaign_id: str
    attempted: int
    universe: int


@dataclass(frozen=True)
class MatchRow:
    """One tool's events today and how many found their person on the voter file."""

    source_system: str
    events: int
    matched: int

    @property
    def unmatched(self) -> int:
        return self.events - self.matched


@dataclass
class Snapshot:
    taken_at: dt.datetime
    goals: list[GoalRow] = field(default_factory=list)
    channels: list[ChannelRow] = field(default_factory=list)
    by_race: list[GroupRow] = field(default_factory=list)
    by_sex: list[GroupRow] = field(default_factory=list)
    coverage: list[CoverageRow] = field(default_factory=list)
    match_rate: list[MatchRow] = field(default_factory=list)
    dead_letters: list[tuple[str, int]] = field(default_factory=list)
    events_per_s: float | None = None
    freshness_p50_s: float | None = None
    errors: dict[str, str] = field(default_factory=dict)  # panel -> message


def _int(v: Any) -> int:
    return int(v) if v is not None else 0


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def week_start(now: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of ``now``'s week."""
    day = now.astimezone(dt.UTC).date()
    monday = day - dt.timedelta(days=day.weekday())
    return dt.datetime(monday.year, monday.month, monday.day, tzinfo=dt.UTC)


def fetch_snapshot(query: Query, now: dt.datetime) -> Snapshot:
    """Every panel's numbers at ``now`` (UTC); a failing query is noted in ``errors``."""
    snap = Snapshot(now)
    monday = week_start(now)
    elapsed = min(1.0, max(0.0, (now - monday).total_seconds() / WEEK_S))
    today = now.astimezone(dt.UTC).date()

    def rows(panel: str, sql: str) -> list[list[Any]]:
        try:
            return list(query(sql)[-1])  # rows are last (columns[, types], rows)
        except Exception as exc:  # a board keeps going whatever the store says
            snap.errors[panel] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            log.warning("board query %s failed: %s", panel, type(exc).__name__)
            return []

    snap.goals = [
        GoalRow(str(o), str(c), str(m), _int(t), _int(a), _int(t) * elapsed)
        for o, c, m, t, a in rows("goals", queries.goals(monday.date()))
    ]
    snap.channels = [
        ChannelRow(str(r[0]), *(_int(v) for v in r[1:7]))
        for r in rows("channels", queries.channels(today))
    ]
    snap.by_race = [
        GroupRow(f"{race} ({source})", _int(a), _int(c), _int(i))
        for race, source, a, c, i in rows("race", queries.by_race(today))
    ]
    snap.by_sex = [
        GroupRow(str(s), _int(a), _int(c), _int(i))
        for s, a, c, i in rows("sex", queries.by_sex(today))
    ]
    snap.coverage = [
        CoverageRow(str(o), str(c), _int(a), _int(u))
        for o, c, a, u in rows("coverage", queries.coverage())
    ]
    snap.match_rate = [
        MatchRow(str(s), _int(e), _int(m))
        for s, e, m in rows("match rate", queries.match_rate(today))
    ]
    snap.dead_letters = [(str(r), _int(n)) for r, n in rows("dead letters", queries.dead_letters())]
    flow = rows("flow", queries.flow(now))
    if flow:
        snap.events_per_s, snap.freshness_p50_s = _num(flow[0][0]), _num(flow[0][1])
    return snap


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _goals_table(snap: Snapshot) -> Table:
    table = Table("org", "campaign", "metric", "actual", "target", "", "pace", title="this week")
    for g in snap.goals:
        style = "green" if g.actual >= g.pace else "yellow"
        bar = ProgressBar(total=max(g.target, 1), completed=min(g.actual, g.target), width=24)
        table.add_row(
            g.org_id,
            g.campaign_id,
            g.metric,
            Text(f"{g.actual:,}", style=style),
            f"{g.target:,}",
            bar,
            f"{g.pace:,.0f} ({_pct(g.actual, g.pace)})",
        )
    return table


def _channels_table(snap: Snapshot) -> Table:
    table = Table(
        "channel", "attempts", "contacts", "rate", "IDs", "support", "undecided", "oppose"
    )
    table.title = "today by channel"
    for c in snap.channels:
        table.add_row(
            c.channel,
            f"{c.attempts:,}",
            f"{c.contacts:,}",
            f"{c.contact_rate:.0%}",
            f"{c.ids:,}",
            f"{c.support:,}",
            f"{c.undecided:,}",
            f"{c.oppose:,}",
        )
    return table


def _group_table(title: str, label: str, groups: list[GroupRow]) -> Table:
    table = Table(label, "attempts", "contacts", "IDs", title=title)
    for g in groups:
        table.add_row(g.label, f"{g.attempts:,}", f"{g.contacts:,}", f"{g.ids:,}")
    return table


def _coverage_table(snap: Snapshot) -> Table:
    table = Table("org", "campaign", "attempted", "universe", "coverage", title="universe coverage")
    for c in snap.coverage:
        table.add_row(
            c.org_id,
            c.campaign_id,
            f"{c.attempted:,}",
            f"{c.universe:,}",
            _pct(c.attempted, c.universe),
        )
    return table


def _match_table(snap: Snapshot) -> Table:
    table = Table("tool", "events", "matched", "unmatched", "match", title="today's voter match")
    for m in snap.match_rate:
        table.add_row(
            m.source_system,
            f"{m.events:,}",
            f"{m.matched:,}",
            f"{m.unmatched:,}",
            _pct(m.matched, m.events),
        )
    return table


def _dlq_table(snap: Snapshot) -> Table:
    table = Table("reason_code", "events", title="dead letters")
    for reason, n in snap.dead_letters:
        table.add_row(reason, f"{n:,}")
    return table


def render(snap: Snapshot) -> RenderableType:
    """The board for ``snap``; pure (no I/O)."""
    rate = "-" if snap.events_per_s is None else f"{snap.events_per_s:.1f}"
    fresh = "-" if snap.freshness_p50_s is None else f"{snap.freshness_p50_s:.2f}s"
    header = Text(
        f"fieldstream  {snap.taken_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC   "
        f"events/s (last min): {rate}   freshness p50: {fresh}",
        style="bold",
    )
    demographics = Table.grid(padding=(0, 2))
    demographics.add_row(
        _group_table("today by race (source)", "race", snap.by_race),
        _group_table("today by sex", "sex", snap.by_sex),
    )
    side = Table.grid(padding=(0, 2))
    side.add_row(_coverage_table(snap), _match_table(snap), _dlq_table(snap))
    parts: list[RenderableType] = [header, _goals_table(snap), _channels_table(snap)]
    parts += [demographics, side]
    if snap.errors:
        lines = "\n".join(f"{panel}: {msg}" for panel, msg in sorted(snap.errors.items()))
        parts.append(Panel(Text(lines, style="red"), title="query errors"))
    return Group(*parts)


def run_board(
    query: Query,
    *,
    until: float | None = None,
    alive: Callable[[], list[Any]] | None = None,
    refresh_s: float = 2.0,
    console: Console | None = None,
) -> None:
    """Refresh the board every ``refresh_s`` until the ``until`` deadline (time.monotonic),
    Ctrl-C, or ``alive()`` reports dead services."""
    console = console or Console()
    with Live(
        render(fetch_snapshot(query, dt.datetime.now(dt.UTC))),
        console=console,
        refresh_per_second=4,
    ) as live:
        while until is None or time.monotonic() < until:
            dead = alive() if alive is not None else []
            if dead:
                live.stop()
                for d in dead:
                    where = getattr(d, "log_path", None)
                    name = getattr(d, "name", str(d))
                    console.print(f"[red]{name} stopped unexpectedly[/red]; see {where}")
                return
            next_at = time.monotonic() + refresh_s
            while time.monotonic() < next_at and (until is None or time.monotonic() < until):
                time.sleep(0.1)
            live.update(render(fetch_snapshot(query, dt.datetime.now(dt.UTC))))
