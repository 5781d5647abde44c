"""The board's per-campaign sections, read from the Grafana dashboards' own panels.

Why the dashboards and not SQL of our own: the terminal board must show what Grafana shows
and one source of SQL cannot drift. Each section names one panel (:data:`SECTIONS`);
its ``rawSql`` is rendered by fieldstream.grafana_sql.render_sql with the panel's dashboard's
variables set as Grafana sets them on opening the board (fieldstream.report.fetch
.variable_values, the report's own function) and the dashboard's default time range at the
refresh's ``now``. Orgs and campaigns are the options of the dashboards' ``org``/``campaign``
variable queries, every pair unless the board was started for one.

Grafana runs variable queries when a dashboard opens (``"refresh": 1``), not on each
auto-refresh; the board likewise re-reads them every :data:`REDISCOVER_S` only, so a refresh
costs the panel queries alone (len(SECTIONS) per campaign).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError
from fieldstream.grafana_sql import PanelQuery, VariableValue, panel_queries, render_sql
from fieldstream.report.fetch import message, time_range, variable_options, variable_values

log = logging.getLogger(__name__)

Query = Callable[[str], tuple[Any, ...]]  # (columns, rows) or (columns, types, rows)
# section -> (dashboard uid, panel title): the panels the board shows, per org/campaign
SECTIONS: dict[str, tuple[str, str]] = {
    "goals": ("fs-progress", "This week: goals, actuals and pace"),
    "channels": ("fs-progress", "This week so far, by channel"),
    "race": ("fs-reach", "By race, with the source of race"),
    "sex": ("fs-reach", "By sex"),
    "coverage": ("fs-coverage", "Universe covered"),
    "forecast": ("fs-progress", "Forecast: where this week's goals will end"),
    "ledger": ("fs-progress", "Counted once: contacts folded and voided"),
    "shifts": ("fs-shifts", "Shifts by event type"),
    "van": ("fs-progress", "In VAN: contacts written back, by source"),
    "quality": ("fs-quality", "Flags by status"),
}
# panels the board shows once for the installation (section -> dashboard uid, panel title)
INSTALLATION: dict[str, tuple[str, str]] = {
    "held": ("fs-pipeline", "Held back, by source and reason"),
}
# the board is for the program's own staff, not shared: every group is shown
MIN_GROUP_SIZE = "1"
REDISCOVER_S = 30.0


@dataclass(frozen=True)
class GoalRow:
    metric: str
    target: int
    actual: int
    pace: float  # target * elapsed share of the week (the panel's own ``pace``)


@dataclass(frozen=True)
class VanRow:
    """One source's write-back to VAN: in_van of contacts."""

    source: str
    in_van: int
    contacts: int
    uncertain: int


@dataclass(frozen=True)
class ChannelRow:
    channel: str
    attempts: int
    contacts: int
    ids: int
    people_reached: int

    @property
    def contact_rate(self) -> float:
        return self.contacts / self.attempts if self.attempts else 0.0


@dataclass(frozen=True)
class GroupRow:
    label: str
    attempts: int
    contacts: int
    ids: int
    people_reached: int = 0


@dataclass(frozen=True)
class ForecastRow:
    metric: str
    target: int
    actual: int
    projected: int
    low: int
    high: int
    reached_on: dt.date | None


@dataclass(frozen=True)
class CoverageRow:
    attempted: int
    universe: int
    contacted: int = 0
    held_out: int = 0
    breaches: int = 0


@dataclass(frozen=True)
class ShiftRow:
    """Volunteer shifts of one event type in the board's range (never contacts)."""

    event_type: str
    scheduled: int
    attended: int
    no_shows: int
    cancelled: int
    flake_rate: float | None  # no-shows / (attended + no-shows); None before any is known


@dataclass(frozen=True)
class QualityRow:
    status: str  # pending, approved, voided
    flags: int
    held_contacts: int


@dataclass
class CampaignBoard:
    """One org/campaign's sections, and the SQL each ran (section -> rendered panel SQL)."""

    org_id: str
    campaign_id: str
    goals: list[GoalRow] = field(default_factory=list)
    channels: list[ChannelRow] = field(default_factory=list)
    by_race: list[GroupRow] = field(default_factory=list)
    by_sex: list[GroupRow] = field(default_factory=list)
    coverage: CoverageRow | None = None
    forecasts: list[ForecastRow] = field(default_factory=list)
    folded: int = 0
    voided: int = 0
    zone: str = ""
    shifts: list[ShiftRow] = field(default_factory=list)
    in_van: list[VanRow] = field(default_factory=list)
    quality: list[QualityRow] = field(default_factory=list)
    sql: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """An org/campaign and each dashboard's variable values for it (uid -> name -> value)."""

    org: str
    campaign: str
    values: Mapping[str, Mapping[str, VariableValue]]


def _int(v: Any) -> int:
    return int(v) if v is not None else 0


def _day(v: Any) -> dt.date | None:
    """A date from a store value (a date, or the sink API's ISO text)."""
    if v is None or isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


class PanelSource:
    """The dashboards' panels for the board's sections, and the orgs/campaigns they cover."""

    def __init__(
        self,
        boards: Sequence[Mapping[str, Any]],
        *,
        org: str | None = None,
        campaign: str | None = None,
    ) -> None:
        by_uid = {str(b.get("uid")): b for b in boards}
        self.panels: dict[str, tuple[Mapping[str, Any], PanelQuery]] = {}
        for section, (uid, title) in SECTIONS.items():
            board = by_uid.get(uid)
            found = [q for q in panel_queries(board or {}) if q.panel_title == title]
            if board is None or not found:
                raise ConfigError(f"no panel {title!r} on the dashboard {uid!r} for the board")
            self.panels[section] = (board, found[0])
        # the dashboards the sections' panels are on (uid -> dashboard)
        self.boards = {str(b.get("uid")): b for b, _ in self.panels.values()}
        self.installation: dict[str, tuple[Mapping[str, Any], PanelQuery]] = {}
        for section, (uid, title) in INSTALLATION.items():
            board = by_uid.get(uid)
            found = [q for q in panel_queries(board or {}) if q.panel_title == title]
            if board is None or not found:
                raise ConfigError(f"no panel {title!r} on the dashboard {uid!r} for the board")
            self.installation[section] = (board, found[0])
        self.org, self.campaign = org, campaign
        self.scopes: list[Scope] = []
        self.discovered_at: dt.datetime | None = None

    def _options(
        self,
        query: Query,
        board: Mapping[str, Any],
        name: str,
        values: Mapping[str, str],
        now: dt.datetime,
    ) -> list[str]:
        var = next(v for v in board["templating"]["list"] if v.get("name") == name)
        return variable_options(var, query, values, *time_range(board, now))

    def discover(self, query: Query, now: dt.datetime) -> list[Scope]:
        """Every org/campaign the dashboards' variable queries return (or the chosen one),
        with each dashboard's variables; identical variable SQL runs once."""
        memo: dict[str, Any] = {}

        def once(sql: str) -> Any:
            if sql not in memo:
                memo[sql] = query(sql)
            return memo[sql]

        first = self.panels["goals"][0]
        orgs = [self.org] if self.org else self._options(once, first, "org", {}, now)
        scopes = []
        for org in orgs:
            if self.org and self.campaign:
                campaigns = [self.campaign]
            else:
                campaigns = self._options(once, first, "campaign", {"org": org}, now)
                campaigns = [c for c in campaigns if self.campaign in (None, c)]
            for campaign in campaigns:
                fixed = {"org": org, "campaign": campaign, "min_group_size": MIN_GROUP_SIZE}
                values = {
                    uid: variable_values(b, once, fixed, *time_range(b, now))
                    for uid, b in self.boards.items()
                }
                scopes.append(Scope(org, campaign, values))
        return scopes

    def campaigns(
        self, query: Query, now: dt.datetime, errors: dict[str, str]
    ) -> list[CampaignBoard]:
        """Each org/campaign's sections at ``now``; failures go to ``errors``, never raise."""
        due = self.discovered_at is None or (
            (now - self.discovered_at).total_seconds() >= REDISCOVER_S
        )
        if due:
            try:
                self.scopes, self.discovered_at = self.discover(query, now), now
            except Exception as exc:  # keep the last orgs/campaigns known; say why
                errors["orgs and campaigns"] = message(exc)
                log.warning("board variable queries failed: %s", type(exc).__name__)
        return [self.fetch(query, scope, now, errors) for scope in self.scopes]

    def rows(
        self, query: Query, scope: Scope, section: str, now: dt.datetime, out: CampaignBoard
    ) -> list[dict[str, Any]]:
        board, panel = self.panels[section]
        sql = render_sql(
            panel.raw_sql, scope.values[str(board.get("uid"))], *time_range(board, now)
        )
        out.sql[section] = sql
        result = query(sql)
        return [dict(zip(result[0], r, strict=False)) for r in result[-1]]

    def installation_rows(
        self, query: Query, section: str, now: dt.datetime
    ) -> list[dict[str, Any]]:
        """The rows of an installation-wide panel (no org or campaign), by column name."""
        board, panel = self.installation[section]
        result = query(render_sql(panel.raw_sql, {}, *time_range(board, now)))
        return [dict(zip(result[0], r, strict=False)) for r in result[-1]]

    def fetch(
        self, query: Query, scope: Scope, now: dt.datetime, errors: dict[str, str]
    ) -> CampaignBoard:
        """One campaign's sections, each from its panel's rendered SQL."""
        out = CampaignBoard(scope.org, scope.campaign)
        zone = scope.values.get("fs-progress", {}).get("tz", "")
        out.zone = zone if isinstance(zone, str) else ""
        for section in SECTIONS:
            try:
                rows = self.rows(query, scope, section, now, out)
            except Exception as exc:  # a board keeps going whatever the store says
                errors[f"{scope.org} / {scope.campaign}: {section}"] = message(exc)
                log.warning("board panel %s failed: %s", section, type(exc).__name__)
                continue
            _fill(out, section, rows)
        return out


def _group(label: str, r: Mapping[str, Any]) -> GroupRow:
    return GroupRow(
        label,
        _int(r.get("attempts")),
        _int(r.get("contacts")),
        _int(r.get("ids")),
        _int(r.get("people_reached")),
    )


def _fill(out: CampaignBoard, section: str, rows: list[dict[str, Any]]) -> None:
    """A panel's rows (by column name, as the panel declares them) into the section."""
    if section == "goals":
        out.goals = [
            GoalRow(
                str(r["metric"]),
                _int(r["target"]),
                _int(r["actual"]),
                float(_int(r["pace"])),
            )
            for r in rows
        ]
    elif section == "channels":
        out.channels = [
            ChannelRow(
                str(r["channel"]),
                _int(r["attempts"]),
                _int(r["contacts"]),
                _int(r["ids"]),
                _int(r["people_reached"]),
            )
            for r in rows
        ]
    elif section == "race":
        out.by_race = [_group(f"{r['race']} ({r['race_source']})", r) for r in rows]
    elif section == "sex":
        out.by_sex = [_group(str(r["sex"]), r) for r in rows]
    elif section == "forecast":
        out.forecasts = [
            ForecastRow(
                str(r["metric"]),
                _int(r["target"]),
                _int(r["actual"]),
                _int(r["projected"]),
                _int(r["low"]),
                _int(r["high"]),
                _day(r.get("reached_on")),
            )
            for r in rows
        ]
    elif section == "ledger" and rows:
        out.folded, out.voided = _int(rows[0]["folded"]), _int(rows[0]["voided"])
    elif section == "shifts":
        out.shifts = [
            ShiftRow(
                str(r["event_type"]),
                _int(r["scheduled"]),
                _int(r["attended"]),
                _int(r["no_shows"]),
                _int(r["cancelled"]),
                None if r.get("flake_rate") is None else float(r["flake_rate"]),
            )
            for r in rows
        ]
    elif section == "van":
        out.in_van = [
            VanRow(str(r["source"]), _int(r["in_van"]), _int(r["contacts"]), _int(r["uncertain"]))
            for r in rows
        ]
    elif section == "quality":
        out.quality = [
            QualityRow(str(r["status"]), _int(r["flags"]), _int(r["held_contacts"])) for r in rows
        ]
    elif section == "coverage" and rows:
        r = rows[0]
        out.coverage = CoverageRow(
            _int(r["attempted"]),
            _int(r["universe"]),
            _int(r["contacted"]),
            _int(r.get("held_out", 0)),
            _int(r.get("holdout_breaches", 0)),
        )
