"""The Grafana dashboards' queries, read from grafana/dashboards/*.json and rendered to SQL.

The boards are the one source of their SQL: the integration test runs every panel's query on
chDB, and the HTML report reuses the same queries instead of keeping copies. Rendering follows
what Grafana and the grafana-clickhouse-datasource plugin do to a panel's ``rawSql``, in their
order:

1. In the browser the plugin's ``applyTemplateVariables`` calls Grafana's
   ``templateSrv.replace(sql, scopedVars, this.format)``, where ``format`` joins a multi-value
   variable as ``'a','b'`` and leaves a single value as it is, unquoted (read in
   grafana/clickhouse-datasource, src/data/CHDatasource.ts, ``format``). So single-value
   variables are written ``'${org}'`` in the SQL and multi-value ones ``IN (${channel})``.
   Grafana's variable syntax is ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]``.
2. On the server the plugin expands its macros (grafana/clickhouse-datasource,
   pkg/macros/macros.go) with grafana/sqlds's matcher ``\\$__name\\b(?:\\((.*?)\\))?``: the
   arguments run to the first ``)`` and are split on commas, so a macro argument is a plain
   column name, never an expression with parentheses.

Values are pasted into SQL as Grafana pastes them (no escaping): they come from the boards'
own variable queries, never from free text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError

CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"
PROMETHEUS_TYPE = "prometheus"
# the plugin's query types and the data-frame format number each maps to (src/data/utils.ts,
# mapQueryTypeToGrafanaFormat: table 1, time series 0)
FORMATS = {"table": 1, "timeseries": 0}

VariableValue = str | Sequence[str]


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel (or of a template variable: panel_type ``variable``)."""

    dashboard: str
    panel_title: str
    panel_type: str
    datasource_type: str
    datasource_uid: str
    ref_id: str
    query_type: str | None
    """The ClickHouse plugin's queryType ('table', 'timeseries'); None for Prometheus."""
    format: int | str | None
    raw_sql: str
    """rawSql for ClickHouse, the PromQL expr for Prometheus."""
    expected_columns: tuple[str, ...] = ()
    """The columns the panel reads (the target's ``expectedColumns``), in order."""

    @property
    def is_clickhouse(self) -> bool:
        return self.datasource_type == CLICKHOUSE_TYPE


def load_dashboards(directory: Path | str) -> list[dict[str, Any]]:
    """Every dashboard JSON under ``directory``, sorted by file name."""
    out = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the dashboard {path}: {exc}") from exc
        if not isinstance(board, dict) or "panels" not in board:
            raise ConfigError(f"{path} is not a Grafana dashboard (no 'panels')")
        out.append(board)
    return out


def panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's panels, those inside (collapsed) rows included; rows themselves not."""
    out: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def _datasource(node: Mapping[str, Any]) -> tuple[str, str]:
    ds = node.get("datasource") or {}
    if not isinstance(ds, Mapping):
        raise ConfigError(f"datasource {ds!r} must be an object with type and uid")
    return str(ds.get("type", "")), str(ds.get("uid", ""))


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """Each target of each panel, with the datasource of the target (else of the panel)."""
    title = str(dashboard.get("title", ""))
    out = []
    for panel in panels(dashboard):
        panel_ds = _datasource(panel)
        for target in panel.get("targets", []):
            ds_type, ds_uid = _datasource(target) if target.get("datasource") else panel_ds
            text = target.get("rawSql") if ds_type == CLICKHOUSE_TYPE else target.get("expr")
            out.append(
                PanelQuery(
                    dashboard=title,
                    panel_title=str(panel.get("title", "")),
                    panel_type=str(panel.get("type", "")),
                    datasource_type=ds_type,
                    datasource_uid=ds_uid,
                    ref_id=str(target.get("refId", "")),
                    query_type=target.get("queryType") if ds_type == CLICKHOUSE_TYPE else None,
                    format=target.get("format"),
                    raw_sql=str(text or ""),
                    expected_columns=tuple(target.get("expectedColumns", ())),
                )
            )
    return out


def variable_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """The template variables of type ``query`` (their SQL runs like a panel's)."""
    out = []
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        ds_type, ds_uid = _datasource(var)
        out.append(
            PanelQuery(
                dashboard=str(dashboard.get("title", "")),
                panel_title=f"${var.get('name')}",
                panel_type="variable",
                datasource_type=ds_type,
                datasource_uid=ds_uid,
                ref_id=str(var.get("name", "")),
                query_type="table",
                format=FORMATS["table"],
                raw_sql=variable_sql(var),
            )
        )
    return out


def variable_sql(var: Mapping[str, Any]) -> str:
    """A template variable's query: the plugin's ``{"rawSql": ...}`` object or a plain string."""
    raw = var.get("query")
    return str(raw.get("rawSql") or "") if isinstance(raw, Mapping) else str(raw or "")


def variable_names(dashboard: Mapping[str, Any]) -> set[str]:
    """Names of the dashboard's template variables."""
    return {str(v["name"]) for v in dashboard.get("templating", {}).get("list", [])}


# --- step 1: Grafana's template variables -----------------------------------------------------

# Grafana's variable regex (public/app/features/variables/utils.ts, variableRegex)
VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)


def used_variables(text: str) -> set[str]:
    """Names of the variables ``text`` refers to (Grafana's own ``__`` names excluded)."""
    names = set()
    for m in VARIABLE.finditer(text):
        name = m.group(1) or m.group(2) or m.group(4)
        if not name.startswith("__"):
            names.add(name)
    return names


def _formatted(value: VariableValue, fmt: str | None) -> str:
    values = [value] if isinstance(value, str) else list(value)
    if fmt is None:  # the ClickHouse plugin's own format function
        return values[0] if isinstance(value, str) else "'" + "','".join(values) + "'"
    if fmt == "raw":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if fmt == "csv":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    raise ConfigError(f"variable format {fmt!r} is not supported by fieldstream's renderer")


def replace_variables(
    text: str, variables: Mapping[str, VariableValue], builtins: Mapping[str, str] | None = None
) -> str:
    """``text`` with each variable replaced as Grafana's templateSrv does with the plugin's
    format; a name that is no variable (a macro such as ``$__timeFilter``) is left as it is."""
    known: dict[str, VariableValue] = {**(builtins or {}), **variables}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name not in known:
            if name.startswith("__"):
                return m.group(0)
            raise ConfigError(f"the query uses ${name}, which has no value")
        return _formatted(known[name], fmt)

    return VARIABLE.sub(sub, text)


# --- step 2: the plugin's macros --------------------------------------------------------------


def _utc(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None:
        raise ConfigError("time range bounds must be timezone-aware datetimes")
    return t.astimezone(dt.UTC)


def _date_time(t: dt.datetime) -> str:
    return f"toDateTime({int(t.timestamp())})"


def _date_time64(t: dt.datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(t.timestamp() * 1000)})"


def _date(t: dt.datetime) -> str:
    return f"toDate('{t.strftime('%Y-%m-%d')}')"


MACRO = re.compile(r"\$__(\w+)\b(?:\((.*?)\))?")
_ARGS = {
    "timeFilter": 1,
    "timeFilter_ms": 1,
    "dateFilter": 1,
    "dateTimeFilter": 2,
    "dt": 2,
    "timeInterval": 1,
    "timeInterval_ms": 1,
}


def expand_macros(
    sql: str, time_from: dt.datetime, time_to: dt.datetime, interval: dt.timedelta
) -> str:
    """The plugin's macros (pkg/macros/macros.go) expanded for a time range and interval."""
    start, end = _utc(time_from), _utc(time_to)
    seconds = int(max(interval.total_seconds(), 1))
    millis = int(max(interval.total_seconds() * 1000, 1))

    def sub(m: re.Match[str]) -> str:
        name, raw = m.group(1), m.group(2)
        args = [a.strip() for a in raw.split(",")] if raw is not None else []
        want = _ARGS.get(name, 0)
        if len(args) != want and name in _ARGS:
            raise ConfigError(f"$__{name} takes {want} argument(s), got {len(args)}: {m[0]}")
        if name == "fromTime":
            return _date_time(start)
        if name == "toTime":
            return _date_time(end)
        if name == "fromTime_ms":
            return _date_time64(start)
        if name == "toTime_ms":
            return _date_time64(end)
        if name == "interval_s":
            return str(seconds)
        if name in ("timeFilter", "timeFilter_ms"):
            f = _date_time if name == "timeFilter" else _date_time64
            return f"{args[0]} >= {f(start)} AND {args[0]} <= {f(end)}"
        if name == "dateFilter":
            return f"{args[0]} >= {_date(start)} AND {args[0]} <= {_date(end)}"
        if name in ("dateTimeFilter", "dt"):
            d, t = args
            return (
                f"({d} >= {_date(start)} AND {d} <= {_date(end)}) AND "
                f"({t} >= {_date_time(start)} AND {t} <= {_date_time(end)})"
            )
        if name == "timeInterval":
            return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {seconds} second)"
        if name == "timeInterval_ms":
            return f"toStartOfInterval(toDateTime64({args[0]}, 3), INTERVAL {millis} millisecond)"
        raise ConfigError(f"$__{name} is not a macro of the ClickHouse datasource plugin")

    return MACRO.sub(sub, sql)


# Grafana rounds the auto interval to one of these (public/app/core/utils/kbn.ts roundInterval
# uses a similar ladder); a panel asks for about this many points
NICE_INTERVALS_S = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
MAX_DATA_POINTS = 1000


def auto_interval(
    time_from: dt.datetime, time_to: dt.datetime, points: int = MAX_DATA_POINTS
) -> dt.timedelta:
    """The interval Grafana would pick for a panel about ``points`` pixels wide (by default
    MAX_DATA_POINTS): the nice interval that gives at most about ``points`` points."""
    wanted = max((time_to - time_from).total_seconds() / points, 1)
    for s in NICE_INTERVALS_S:
        if s >= wanted:
            return dt.timedelta(seconds=s)
    return dt.timedelta(days=math.ceil(wanted / 86400))


def render_sql(
    sql: str,
    variables: Mapping[str, VariableValue],
    time_from: dt.datetime,
    time_to: dt.datetime,
    *,
    interval: dt.timedelta | None = None,
) -> str:
    """The SQL the plugin sends to ClickHouse for ``sql`` with these variable values (a list
    for a multi-value variable) and time range; ``interval`` defaults to Grafana's auto one."""
    step = interval or auto_interval(time_from, time_to)
    start, end = _utc(time_from), _utc(time_to)
    builtins = {
        "__from": str(int(start.timestamp() * 1000)),
        "__to": str(int(end.timestamp() * 1000)),
        "__interval_ms": str(int(step.total_seconds() * 1000)),
        "__interval": f"{int(step.total_seconds())}s",
        "__range_s": str(int((end - start).total_seconds())),
        "__range_ms": str(int((end - start).total_seconds() * 1000)),
    }
    return expand_macros(replace_variables(sql, variables, builtins), start, end, step)
