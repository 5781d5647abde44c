"""The board's own SQL over the ClickHouse model (sinks/ddl), for what no Grafana panel covers.

Goals, channels, who we are reaching, coverage and the contacts held back come from the
dashboards' panels (fieldstream.board_panels); these are the rest: today's voter match and flow
(events/s, freshness: Prometheus panels on the Grafana board). Each returns a query string;
the values put in it are dates, times and ids this module formats and quotes itself. "Today"
is each campaign's own (its zone in program_zones).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sinks.sql import datetime64, string_literal


def zones() -> str:
    """org_id, campaign_id, tz: each campaign's clock as the sink last read programs.yaml."""
    return (
        "SELECT toString(org_id), toString(campaign_id), argMax(toString(tz), updated_at) "
        "FROM program_zones GROUP BY org_id, campaign_id"
    )


def local_days(
    zones: Iterable[tuple[str, str, str]], now: dt.datetime
) -> dict[tuple[str, str], dt.date]:
    """Each campaign's today on its own clock."""
    out = {}
    for org, campaign, zone in zones:
        try:
            out[(org, campaign)] = now.astimezone(ZoneInfo(zone)).date()
        except (ZoneInfoNotFoundError, ValueError):
            out[(org, campaign)] = now.astimezone(dt.UTC).date()
    return out


def match_rate(today: Mapping[tuple[str, str], dt.date]) -> str:
    """source_system, events, matched for each campaign's today (the match_rate view), most
    unmatched first."""
    cells = ", ".join(
        f"({string_literal(o)}, {string_literal(c)}, toDate('{d.isoformat()}'))"
        for (o, c), d in sorted(today.items())
    )
    return (
        "SELECT source_system, sum(events), sum(matched) FROM match_rate "
        f"WHERE (org_id, campaign_id, day) IN ({cells}) "
        "GROUP BY source_system ORDER BY sum(unmatched) DESC, source_system"
    )


def flow(now: dt.datetime, window_s: int = 60) -> str:
    """events/s inserted over the last window, freshness p50 (inserted - received) in s."""
    since = datetime64(now - dt.timedelta(seconds=window_s))
    return (
        f"SELECT count() / {window_s}, "
        "quantileExact(0.5)(dateDiff('millisecond', received_at, inserted_at)) / 1000 "
        f"FROM contact_inbox WHERE inserted_at >= {since}"
    )
