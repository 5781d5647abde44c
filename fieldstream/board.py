"""The live terminal board: per org/campaign, progress to goal, this week by channel, who we
are reaching, coverage and volunteer shifts; then voter match, the contacts held back and flow
for the installation.

The per-campaign sections and the held-back table are the Grafana dashboards' own panels
(fieldstream.board_panels): the same SQL Grafana runs, so the embedded default shows what
Grafana shows. What no panel covers (events/s and freshness, match rate) keeps its SQL in
fieldstream.queries.
:func:`fetch_snapshot` runs both through any ``query(sql) -> (columns[, types], rows)``
callable; :func:`render` turns a Snapshot into a rich renderable and does no I/O;
:func:`run_board` refreshes them every ~2 s. A failing query shows as a message on the board,
never ends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from core.settings import DASHBOARDS
from fieldstream import queries
from fieldstream.board_panels import (
    MIN_GROUP_SIZE,
    CampaignBoard,
    ChannelRow,
    CoverageRow,
    ForecastRow,
    GoalRow,
    GroupRow,
    PanelSource,
    Query,
    ShiftRow,
    _int,
)
from fieldstream.grafana_sql import load_dashboards
from fieldstream.report.fetch import message

log = logging.getLogger(__name__)

__all__ = [
    "CampaignBoard",
    "ChannelRow",
    "CoverageRow",
    "ForecastRow",
    "GoalRow",
    "GroupRow",
    "HeldRow",
    "MatchRow",
    "PanelSource",
    "ShiftRow",
    "Snapshot",
    "fetch_snapshot",
    "render",
    "run_board",
]
FOOTER = (
    f"Small groups are shown (min_group_size = {MIN_GROUP_SIZE}): this board is for the "
    "program's own staff; do not share it. `fieldstream report` suppresses small groups."
)


@dataclass(frozen=True)
class MatchRow:
    """One tool's events today and how many found their person on the voter file."""

    source_system: str
    events: int
    matched: int

    @property
    def unmatched(self) -> int:
        return self.events - self.matched


@dataclass(frozen=True)
class HeldRow:
    """Contacts one source holds back for one reason: whole (not counted), or counted with
    only some survey answers held (its IDs are partial until a replay fills them in)."""

    source: str
    reason_code: str
    held_whole: int
    counted_answers_held: int


@dataclass
class Snapshot:
    taken_at: dt.datetime
    campaigns: list[CampaignBoard] = field(default_factory=list)
    match_rate: list[MatchRow] = field(default_factory=list)
    held: list[HeldRow] = field(default_factory=list)
    events_per_s: float | None = None
    freshness_p50_s: float | None = None
    errors: dict[str, str] = field(default_factory=dict)  # section -> message
    queries: int = 0  # SQL statements this refresh ran


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def fetch_snapshot(query: Query, now: dt.datetime, source: PanelSource) -> Snapshot:
    """Every section's numbers at ``now`` (UTC); a failing query is noted in ``errors``.

    ``source`` keeps the orgs/campaigns found between refreshes (pass the same one each time).
    """
    snap = Snapshot(now)

    def counted(sql: str) -> Any:
        snap.queries += 1
        return query(sql)

    snap.campaigns = source.campaigns(counted, now, snap.errors)

    def rows(section: str, sql: str) -> list[list[Any]]:
        try:
            return list(counted(sql)[-1])  # rows are last (columns[, types], rows)
        except Exception as exc:  # a board keeps going whatever the store says
            snap.errors[section] = message(exc)
            log.warning("board query %s failed: %s", section, type(exc).__name__)
            return []

    zones = rows("clocks", queries.zones())
    today = queries.local_days(((str(o), str(c), str(z)) for o, c, z in zones), now)
    snap.match_rate = [
        MatchRow(str(s), _int(e), _int(m))
        for s, e, m in (rows("match rate", queries.match_rate(today)) if today else [])
    ]
    try:
        snap.held = [
            HeldRow(
                str(r["source"]),
                str(r["reason_code"]),
                _int(r["held_whole"]),
                _int(r["counted_answers_held"]),
            )
            for r in source.installation_rows(counted, "held", now)
        ]
    except Exception as exc:  # a board keeps going whatever the store says
        snap.errors["held back"] = message(exc)
        log.warning("board query held back failed: %s", type(exc).__name__)
    flow = rows("flow", queries.flow(now))
    if flow:
        snap.events_per_s, snap.freshness_p50_s = _num(flow[0][0]), _num(flow[0][1])
    return snap


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _goals_table(c: CampaignBoard) -> Table:
    table = Table("metric", "actual", "target", "", "pace", title="this week: goals")
    for g in c.goals:
        style = "green" if g.actual >= g.pace else "yellow"
        bar = ProgressBar(total=max(g.target, 1), completed=min(g.actual, g.target), width=20)
        table.add_row(
            g.metric,
            Text(f"{g.actual:,}", style=style),
            f"{g.target:,}",
            bar,
            f"{g.pace:,.0f} ({_pct(g.actual, g.pace)})",
        )
    return table


def _channels_table(c: CampaignBoard) -> Table:
    table = Table("channel", "attempts", "contacts", "rate", "IDs", "people", title="this week")
    for ch in c.channels:
        table.add_row(
            ch.channel,
            f"{ch.attempts:,}",
            f"{ch.contacts:,}",
            f"{ch.contact_rate:.0%}",
            f"{ch.ids:,}",
            f"{ch.people_reached:,}",
        )
    return table


def _forecast_table(c: CampaignBoard) -> Table:
    table = Table("metric", "target", "projected", "90%", "reached", title="this week: forecast")
    for f in c.forecasts:
        style = "green" if f.projected >= f.target else "yellow"
        reached = f"{f.reached_on:%a %d %b}" if f.reached_on else "-"
        table.add_row(
            f.metric,
            f"{f.target:,}",
            Text(f"{f.projected:,}", style=style),
            f"{f.low:,}-{f.high:,}",
            reached,
        )
    return table


def _group_table(title: str, label: str, groups: list[GroupRow]) -> Table:
    table = Table(label, "attempts", "contacts", "IDs", "people", title=title)
    for g in groups:
        table.add_row(
            g.label, f"{g.attempts:,}", f"{g.contacts:,}", f"{g.ids:,}", f"{g.people_reached:,}"
        )
    return table


def _coverage_line(c: CampaignBoard) -> Text:
    cov = c.coverage
    if cov is None:
        return Text("universe coverage: -")
    line = Text(
        f"universe coverage: {cov.attempted:,} of {cov.universe:,} attempted "
        f"({_pct(cov.attempted, cov.universe)}), {cov.contacted:,} talked to "
        f"({_pct(cov.contacted, cov.universe)})"
    )
    if cov.held_out:
        line.append(f"; {cov.held_out:,} held out")
        if cov.breaches:  # a contact with the holdout spoils the measurement: flag it
            line.append(f", HOLDOUT BREACHED: {cov.breaches:,} attempted", style="bold red")
    return line


def _shifts_table(c: CampaignBoard) -> Table:
    table = Table(
        "event type", "scheduled", "attended", "no-shows", "cancelled", "flake rate",
        title="volunteer shifts (not contacts)",
    )  # fmt: skip
    for s in c.shifts:
        flake = "-" if s.flake_rate is None else f"{s.flake_rate:.0%}"
        table.add_row(
            s.event_type,
            f"{s.scheduled:,}",
            f"{s.attended:,}",
            f"{s.no_shows:,}",
            f"{s.cancelled:,}",
            flake,
        )
    return table


def _van_line(c: CampaignBoard) -> Text:
    """In VAN: x of y per source that writes back (nothing when none does)."""
    if not c.in_van:
        return Text("")
    parts = [
        f"{v.source} {v.in_van:,} of {v.contacts:,}"
        + (f" ({v.uncertain:,} uncertain)" if v.uncertain else "")
        for v in c.in_van
    ]
    return Text("in VAN: " + ", ".join(parts))


def _quality_line(c: CampaignBoard) -> Text:
    if not c.quality:
        return Text("data quality: no flagged shift in the last 7 days")
    parts = [f"{q.flags:,} {q.status}" for q in c.quality]
    held = sum(q.held_contacts for q in c.quality)
    line = f"data quality: flagged shifts {', '.join(parts)}; {held:,} contacts held out of goals"
    return Text(line, style="yellow" if held else "")


def _campaign_panel(c: CampaignBoard) -> Panel:
    top = Table.grid(padding=(0, 2))
    top.add_row(_goals_table(c), _forecast_table(c), _channels_table(c))
    reach = Table.grid(padding=(0, 2))
    reach.add_row(
        _group_table("last 7 days by race (source)", "race", c.by_race),
        _group_table("last 7 days by sex", "sex", c.by_sex),
    )
    counted = Text(
        f"counted once: {c.folded:,} contacts folded from a second path, {c.voided:,} voided",
        style="dim",
    )
    parts: list[RenderableType] = [
        top,
        reach,
        _coverage_line(c),
        counted,
        _van_line(c),
        _quality_line(c),
    ]
    if c.shifts:
        parts.append(_shifts_table(c))
    clock = f"  ({c.zone})" if c.zone else ""
    return Panel(Group(*parts), title=f"{c.org_id} / {c.campaign_id}{clock}", expand=False)


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


def _held_table(snap: Snapshot) -> Table:
    table = Table(
        "source",
        "reason",
        "held whole",
        "counted, answers held",
        title="held back (fieldstream dlq list)",
    )
    for h in snap.held:
        table.add_row(
            h.source,
            h.reason_code,
            Text(f"{h.held_whole:,}", style="red" if h.held_whole else ""),
            Text(f"{h.counted_answers_held:,}", style="yellow" if h.counted_answers_held else ""),
        )
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
    parts: list[RenderableType] = [header]
    parts += [_campaign_panel(c) for c in snap.campaigns]
    if not snap.campaigns:
        parts.append(Text("no org or campaign found on the boards yet", style="yellow"))
    side = Table.grid(padding=(0, 2))
    side.add_row(_match_table(snap), _held_table(snap))
    parts.append(side)
    if snap.errors:
        lines = "\n".join(f"{panel}: {msg}" for panel, msg in sorted(snap.errors.items()))
        parts.append(Panel(Text(lines, style="red"), title="query errors"))
    parts.append(
        Text(
            f"{FOOTER}  Goals, channels, reach, coverage and shifts: the Grafana boards' panels "
            f"({snap.queries} queries this refresh).",
            style="dim",
        )
    )
    return Group(*parts)


def run_board(
    query: Query,
    *,
    until: float | None = None,
    alive: Callable[[], list[Any]] | None = None,
    refresh_s: float = 2.0,
    console: Console | None = None,
    org: str | None = None,
    campaign: str | None = None,
    dashboards: Path = DASHBOARDS,
) -> None:
    """Refresh the board every ``refresh_s`` until the ``until`` deadline (time.monotonic),
    Ctrl-C, or ``alive()`` (called every tick: the stack's supervision) reports services it
    could not keep running; ``org``/``campaign`` narrow it to one."""
    console = console or Console()
    source = PanelSource(load_dashboards(dashboards), org=org, campaign=campaign)

    def snapshot() -> RenderableType:
        return render(fetch_snapshot(query, dt.datetime.now(dt.UTC), source))

    with Live(snapshot(), console=console, refresh_per_second=4) as live:
        while until is None or time.monotonic() < until:
            dead = alive() if alive is not None else []
            if dead:
                live.stop()
                for d in dead:
                    where = getattr(d, "log_path", None)
                    name = getattr(d, "name", str(d))
                    console.print(f"[red]{name} keeps dying[/red]; stopping (see {where})")
                return
            next_at = time.monotonic() + refresh_s
            while time.monotonic() < next_at and (until is None or time.monotonic() < until):
                time.sleep(0.1)
                if alive is not None and alive():
                    break
            live.update(snapshot())
