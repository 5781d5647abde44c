"""Panels the report's story needs that no Grafana board has yet, written as a dashboard.

Why a dashboard-shaped dict: these run through exactly the path the boards' panels take
(grafana_sql.render_sql with the report's variables and range, suppression, the same page),
so moving one onto a board later is a copy of its JSON. A panel is skipped when a board
already reads its table (see :func:`missing_extras`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fieldstream.grafana_sql import CLICKHOUSE_TYPE, panel_queries

DATASOURCE = {"type": CLICKHOUSE_TYPE, "uid": "clickhouse"}


def _panel(
    title: str, kind: str, sql: str, columns: Sequence[str], description: str, **extra: Any
) -> dict[str, Any]:
    query_type = "timeseries" if kind == "timeseries" else "table"
    return {
        "title": title,
        "type": kind,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": 12},
        "targets": [
            {
                "datasource": DATASOURCE,
                "refId": "A",
                "queryType": query_type,
                "format": 0 if query_type == "timeseries" else 1,
                "rawSql": sql,
                "expectedColumns": list(columns),
            }
        ],
        **extra,
    }


ACTIVITY = _panel(
    "Attempts and contacts per day, by channel",
    "timeseries",
    "SELECT toDateTime(day, '${tz}') AS time, toString(channel) AS channel,\n"
    "    sum(attempts) AS attempts, sum(contacts) AS contacts\n"
    "FROM counts_daily\n"
    "WHERE org_id = '${org}' AND campaign_id = '${campaign}' AND by_group = 0\n"
    "    AND day >= toDate($__fromTime, '${tz}') AND day <= toDate($__toTime, '${tz}')\n"
    "GROUP BY time, channel HAVING attempts > 0 ORDER BY time, channel",
    ("time", "channel", "attempts", "contacts"),
    "Door knocks, dials and texted people (texted: once per person and day), and "
    "conversations, per day on the campaign's clock.",
)
MATCH_RATE = _panel(
    "Voter-file match rate by tool",
    "table",
    "SELECT source_system, sum(events) AS events, sum(matched) AS matched,\n"
    "    sum(unmatched) AS unmatched, round(matched / events, 3) AS match_rate\n"
    "FROM match_rate\n"
    "WHERE org_id = '${org}' AND campaign_id = '${campaign}'\n"
    "    AND day >= toDate($__fromTime, '${tz}') AND day <= toDate($__toTime, '${tz}')\n"
    "GROUP BY source_system ORDER BY unmatched DESC, source_system",
    ("source_system", "events", "matched", "unmatched", "match_rate"),
    "Contacts whose person was found on the voter file; unmatched ones carry no "
    "demographics and count toward no universe.",
    fieldConfig={
        "defaults": {},
        "overrides": [
            {
                "matcher": {"id": "byName", "options": "match_rate"},
                "properties": [{"id": "unit", "value": "percentunit"}],
            }
        ],
    },
)

# the boards' own ``tz`` variable is copied into the extras; boards without one are on UTC
UTC_CLOCK: dict[str, Any] = {"name": "tz", "type": "constant", "query": "UTC"}

EXTRAS: dict[str, Any] = {
    "uid": "fs-report-extras",
    "title": "Activity and voter match",
    "description": "Not on a Grafana board yet: the same store, the same variables.",
    "time": {"from": "now-7d", "to": "now"},
    "templating": {"list": []},  # the boards' own ``tz`` variable is copied in
    "panels": [ACTIVITY, MATCH_RATE],
}


def missing_extras(boards: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The extras dashboard without the panels a board already covers (None if empty).

    The activity panel is covered by a board time series of attempts; match rate by any
    board query on the match_rate view.
    """
    sqls = [q.raw_sql for b in boards for q in panel_queries(b) if q.is_clickhouse]
    series = [
        q
        for b in boards
        for q in panel_queries(b)
        if q.is_clickhouse and q.query_type == "timeseries" and "attempts" in q.expected_columns
    ]
    keep = []
    if not series:
        keep.append(ACTIVITY)
    if not any("FROM match_rate" in s for s in sqls):
        keep.append(MATCH_RATE)
    variables = [v for b in boards for v in b.get("templating", {}).get("list", [])]
    clock = [v for v in variables if v["name"] == "tz"][:1] or [UTC_CLOCK]
    templating = {"list": clock}
    return {**EXTRAS, "templating": templating, "panels": keep} if keep else None
