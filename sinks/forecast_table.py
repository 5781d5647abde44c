"""The goal forecasts the boards read (goal_forecasts), redone by the keeper every minute.

For each campaign with goals in its current local week: the metric per local day (counts_daily,
the last five weeks), the hour profile (counts_5m contacts by local hour, the last four weeks)
and the campaign's ramp (programs.yaml) go through sinks/forecast.py. People reached are not
a sum of days; their forecast keeps this week's people per contact: projected people = people
so far + (projected contacts - contacts so far) x that share (at most one).
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from core.config import Programs
from sinks.forecast import Forecast, forecast
from sinks.ledger import Sql, campaign_scope
from sinks.sql import string_literal
from sinks.store import LockedStore

log = logging.getLogger(__name__)

COLUMNS = [
    "org_id", "campaign_id", "week_start", "metric", "target", "actual", "projected", "low",
    "high", "current_rate", "reached_on", "shape", "computed_at",
]  # fmt: skip
HISTORY_DAYS = 35


def campaign_forecasts(
    sql: Sql, programs: Programs, org_id: str, campaign_id: str, now: dt.datetime
) -> list[list[object]]:
    zone = programs.zone_of(org_id, campaign_id)
    local = now.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    monday = local.date() - dt.timedelta(days=local.weekday())
    scope = campaign_scope(org_id, campaign_id)
    goals = sql.rows(
        f"SELECT metric, target, actual FROM goal_progress WHERE {scope} "
        f"AND week_start = toDate('{monday.isoformat()}')"
    )
    if not goals:
        return []
    since = monday - dt.timedelta(days=HISTORY_DAYS)
    daily: dict[str, dict[dt.date, float]] = {"attempts": {}, "contacts": {}, "ids": {}}
    for day, attempts, contacts, ids in sql.rows(
        "SELECT day, sum(attempts), sum(contacts), sum(ids) FROM counts_daily "
        f"WHERE {scope} AND by_group = 0 AND day >= toDate('{since.isoformat()}') GROUP BY day"
    ):
        daily["attempts"][day], daily["contacts"][day], daily["ids"][day] = (
            float(attempts),
            float(contacts),
            float(ids),
        )
    hours = [0.0] * 24
    for hour, n in sql.rows(
        f"SELECT toHour(bucket, {string_literal(zone)}) AS h, sum(contacts) FROM counts_5m "
        f"WHERE {scope} AND bucket >= toDateTime('{monday - dt.timedelta(days=28)}', 'UTC') "
        f"AND bucket < toDateTime('{monday}', 'UTC') GROUP BY h"
    ):
        hours[int(hour)] = float(n)
    ramp = programs.ramp_of(org_id, campaign_id)
    period = (monday, monday + dt.timedelta(days=7))
    made: dict[str, Forecast] = {}
    for metric in ("attempts", "contacts", "ids"):
        target = next((float(t) for m, t, _ in goals if m == metric), 0.0)
        made[metric] = forecast(
            done=daily[metric], period=period, now=local, target=target, ramp=ramp, hours=hours
        )
    rows: list[list[object]] = []
    for metric, target, actual in goals:
        metric = str(metric)
        if metric in made:
            f = made[metric]
        elif metric == "people_reached":
            f = _people(made["contacts"], float(actual))
        else:
            continue
        rows.append(
            [org_id, campaign_id, monday, metric, int(target), round(f.actual),
             round(f.projected), round(f.low), round(f.high),
             round(f.current_rate), f.reached_on if metric in made else None, f.shape, now]
        )  # fmt: skip
    return rows


def _people(contacts: Forecast, people: float) -> Forecast:
    share = min(people / contacts.actual, 1.0) if contacts.actual else 1.0

    def scaled(value: float) -> float:
        return people + max(value - contacts.actual, 0.0) * share

    return Forecast(
        people,
        scaled(contacts.projected),
        scaled(contacts.current_rate),
        scaled(contacts.low),
        scaled(contacts.high),
        None,
        contacts.shape,
    )


def refresh(store: LockedStore, programs: Programs, now: dt.datetime) -> int:
    """Redo every current goal's forecast; returns how many rows were written."""
    rows: list[list[object]] = []
    for org_id, campaign_id in store.rows(
        "SELECT DISTINCT toString(org_id), toString(campaign_id) FROM goals"
    ):
        rows += campaign_forecasts(store, programs, str(org_id), str(campaign_id), now)
    if rows:
        store.insert("goal_forecasts", COLUMNS, rows)
    return len(rows)
