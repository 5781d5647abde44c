"""Run the Grafana dashboards' queries for one org, campaign and time range.

Why from the dashboards' JSON and not from copies of their SQL: the report must show what
Grafana shows, and one source of SQL cannot drift. Each ClickHouse panel's
``rawSql`` goes through fieldstream.grafana_sql.render_sql with the report's variables and
range, then through ``query(sql) -> (columns, rows)`` (sinks.remote's store access, as the
terminal board uses). Prometheus panels are live-only: the report names them and moves on.
A failing query shows on its panel and never ends the report.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.errors import ConfigError
from fieldstream.grafana_sql import (
    CLICKHOUSE_TYPE,
    PanelQuery,
    VariableValue,
    auto_interval,
    panel_queries,
    panels,
    render_sql,
    replace_variables,
    used_variables,
    variable_names,
    variable_sql,
)
from fieldstream.report.extras import missing_extras
from fieldstream.report.model import PanelData, Report, Section
from fieldstream.report.privacy import suppress_panel

log = logging.getLogger(__name__)

Query = Callable[[str], tuple[list[str], list[list[Any]]]]
# the story's order; boards not named here follow, by title
ORDER = (
    "fs-progress",
    "fs-report-extras",
    "fs-reach",
    "fs-coverage",
    "fs-scripts",
    "fs-quality",
    "fs-pipeline",
)
# the boards' own threshold: the report shows every group and suppresses itself (privacy.py)
OVERRIDES: dict[str, VariableValue] = {"min_group_size": "0"}
REPORT_POINTS = 60
RELATIVE = re.compile(r"^now(?:([-+])(\d+)([smhdwMy]))?(?:/([dwMy]))?$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "y": 365 * 86400}


def grafana_time(text: str, now: dt.datetime) -> dt.datetime:
    """A dashboard's ``now-7d`` (``now``, ``now-Nu`` or ``now+Nu``, optionally ``/d`` or
    ``/w``) at ``now``."""
    m = RELATIVE.match(text.strip())
    if m is None:
        try:
            return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
        except ValueError as exc:
            raise ConfigError(f"cannot read the dashboard time {text!r}") from exc
    sign = 1 if m.group(1) == "+" else -1
    t = now + sign * dt.timedelta(seconds=int(m.group(2) or 0) * UNIT_S.get(m.group(3) or "s", 1))
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if m.group(4) == "d":
        return day
    if m.group(4) == "w":
        return day - dt.timedelta(days=day.weekday())
    if m.group(4) in ("M", "y"):
        return day.replace(day=1, month=1 if m.group(4) == "y" else day.month)
    return t


def time_range(
    board: Mapping[str, Any],
    now: dt.datetime,
    time_from: dt.datetime | None = None,
    time_to: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """The dashboard's default range (``now-7d`` to ``now``) at ``now``, as Grafana opens it;
    ``time_from``/``time_to``, when given, replace its start/end. A relative start counts
    back from ``time_to`` when given, else from ``now``; an empty range becomes 7 days."""
    default = board.get("time") or {}
    end = time_to or grafana_time(str(default.get("to", "now")), now)
    start = time_from or grafana_time(str(default.get("from", "now-7d")), time_to or now)
    return (end - dt.timedelta(days=7) if start >= end else start), end


def variable_options(
    var: Mapping[str, Any],
    query: Callable[[str], Sequence[Any]],
    values: Mapping[str, VariableValue],
    time_from: dt.datetime,
    time_to: dt.datetime,
) -> list[str]:
    """A query variable's options: its SQL rendered with ``values`` and run, column 0."""
    sql = render_sql(variable_sql(var), values, time_from, time_to)
    return [str(r[0]) for r in query(sql)[-1]]


def variable_values(
    board: Mapping[str, Any],
    query: Query,
    fixed: Mapping[str, VariableValue],
    time_from: dt.datetime,
    time_to: dt.datetime,
) -> dict[str, VariableValue]:
    """The board's variables as Grafana would set them on opening it: ``fixed`` values win;
    a query variable takes its first option, or all of them when it is multi-value with
    "All" (the plugin then writes them ``'a','b'``); constants and custom lists as given."""
    values: dict[str, VariableValue] = dict(fixed)
    for var in board.get("templating", {}).get("list", []):
        name, kind = str(var.get("name")), var.get("type")
        if name in fixed:
            continue
        if kind in ("constant", "textbox"):
            values[name] = str(var.get("query", ""))
            continue
        if kind == "custom":
            options = [o.strip() for o in str(var.get("query", "")).split(",") if o.strip()]
        elif kind == "query" and var.get("datasource", {}).get("type") == CLICKHOUSE_TYPE:
            options = variable_options(var, query, values, time_from, time_to)
        else:
            continue
        if var.get("multi") or var.get("includeAll"):
            values[name] = options or [""]
        else:
            values[name] = options[0] if options else ""
    return values


def _units(panel: Mapping[str, Any], columns: Sequence[str]) -> dict[str, str]:
    """column -> unit from the panel's fieldConfig (defaults, then byName/byRegexp overrides)."""
    config = panel.get("fieldConfig") or {}
    default = (config.get("defaults") or {}).get("unit")
    units = {c: default for c in columns if default}
    for override in config.get("overrides", []):
        matcher = override.get("matcher") or {}
        unit = next((p["value"] for p in override.get("properties", []) if p["id"] == "unit"), None)
        if unit is None:
            continue
        option, how = str(matcher.get("options", "")), matcher.get("id")
        for c in columns:
            by_name = how == "byName" and c == option
            if by_name or (how == "byRegexp" and re.search(option.strip("/"), c)):
                units[c] = unit
    return units


def _panel_data(
    panel: Mapping[str, Any],
    q: PanelQuery,
    query: Query,
    values: Mapping[str, VariableValue],
    span: tuple[dt.datetime, dt.datetime],
    k: int,
) -> PanelData:
    custom = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("custom") or {}
    reduce = (panel.get("options") or {}).get("reduceOptions") or {}
    data = PanelData(
        dashboard=q.dashboard,
        title=q.panel_title,
        panel_type=q.panel_type,
        columns=[],
        rows=[],
        description=str(panel.get("description", "")),
        width=int((panel.get("gridPos") or {}).get("w", 24)),
        draw_style=str(custom.get("drawStyle", "line")),
        value_fields=reduce.get("fields") or None,
        stacked=(custom.get("stacking") or {}).get("mode") == "normal",
        value_max=_float(((panel.get("fieldConfig") or {}).get("defaults") or {}).get("max")),
    )
    data.description = _interpolate(data.description, values, k)
    try:
        result = query(render_sql(q.raw_sql, values, *span, interval=report_interval(*span)))
    except Exception as exc:  # a report keeps going whatever the store says
        data.error = message(exc)
        log.warning("report query %s / %s failed: %s", q.dashboard, q.panel_title, data.error)
        return data
    data.columns, data.rows = list(result[0]), [list(r) for r in result[-1]]
    data.suppressed = [None] * len(data.rows)
    data.units = _units(panel, data.columns)
    return suppress_panel(data, q.raw_sql, k)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _interpolate(text: str, values: Mapping[str, VariableValue], k: int) -> str:
    """A description as Grafana shows it (variables replaced; the threshold is k)."""
    try:
        return replace_variables(text, {**values, "min_group_size": str(k)})
    except ConfigError:
        return text


def report_interval(time_from: dt.datetime, time_to: dt.datetime) -> dt.timedelta:
    """The ``$__interval`` for the report's charts: about REPORT_POINTS points per range.

    Grafana sizes it to the panel's width in pixels (up to 1000 points); a chart on paper
    reads better with fewer, so the same ladder of nice intervals is used with fewer points.
    """
    return auto_interval(time_from, time_to, REPORT_POINTS)


def message(exc: Exception) -> str:
    """The first line of an error, short: shown in place of the numbers (report and board)."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def build_section(
    board: Mapping[str, Any],
    query: Query,
    fixed: Mapping[str, VariableValue],
    time_from: dt.datetime,
    time_to: dt.datetime,
    k: int,
) -> tuple[Section, dict[str, VariableValue]]:
    """One dashboard's panels run for the range; also the variable values used."""
    section = Section(
        str(board.get("title", "")), str(board.get("description", "")), time_from, time_to
    )
    try:
        values = variable_values(board, query, fixed, time_from, time_to)
    except Exception as exc:
        section.notes.append(f"The board's variables could not be read: {message(exc)}")
        return section, dict(fixed)
    live = []
    for panel in panels(board):
        for q in panel_queries({"title": section.title, "panels": [panel]}):
            if q.datasource_type != CLICKHOUSE_TYPE:
                if q.panel_title not in live:
                    live.append(q.panel_title)
                continue
            section.panels.append(_panel_data(panel, q, query, values, (time_from, time_to), k))
    if live:
        section.notes.append(
            "Live metrics on the Grafana board only (Prometheus): " + "; ".join(live) + "."
        )
    scoped = any("org" in used_variables(q.raw_sql) for q in panel_queries(board))
    if section.panels and not scoped:
        section.notes.append("These panels count the whole installation, every org together.")
    return section, values


def _order(board: Mapping[str, Any]) -> tuple[int, str]:
    uid = str(board.get("uid", ""))
    return (ORDER.index(uid) if uid in ORDER else len(ORDER), str(board.get("title", "")))


def build_report(
    query: Query,
    boards: Sequence[Mapping[str, Any]],
    *,
    k: int,
    org: str | None = None,
    campaign: str | None = None,
    time_from: dt.datetime | None = None,
    time_to: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Every board's ClickHouse panels (and the extras no board has yet) for one org and
    campaign. Without ``time_from``/``time_to`` each board keeps its own default range
    (``now-7d`` ...) as Grafana opens it; without org/campaign, the boards' first options."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if time_from and time_to and time_from >= time_to:
        raise ConfigError("--from must be before --to")
    fixed: dict[str, VariableValue] = dict(OVERRIDES)
    if org:
        fixed["org"] = org
    if campaign:
        fixed["campaign"] = campaign
    extras = missing_extras(boards)
    everything = sorted([*boards, *([extras] if extras else [])], key=_order)

    # org and campaign as the first board that has them picks them, for every board
    wanted = {"org", "campaign"} - set(fixed)
    first = next((b for b in everything if wanted & variable_names(b)), None)
    if first is not None:
        values = variable_values(first, query, fixed, *time_range(first, now, time_from, time_to))
        for name in ("org", "campaign"):
            if name not in fixed and isinstance(values.get(name), str) and values[name]:
                fixed[name] = values[name]
    sections = [
        build_section(board, query, fixed, *time_range(board, now, time_from, time_to), k)[0]
        for board in everything
    ]
    from fieldstream.report.analysis import analysis_section  # it reads build_section

    analysis = analysis_section(query, fixed, build_section, now, k)
    if analysis is not None:
        sections.append(analysis)
    return Report(
        org=str(fixed.get("org", "")),
        campaign=str(fixed.get("campaign", "")),
        generated_at=now,
        min_group_size=k,
        sections=sections,
    )
