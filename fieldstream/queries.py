"""The board's own SQL over the ClickHouse model (sinks/ddl), for what no Grafana panel covers.

Goals, channels, who we are reaching, coverage and the contacts held back come from the
dashboards' panels (fieldstream.board_panels); these are the rest: today's voter match and flow
(events/s, freshness: Prometheus panels on the Grafana board). Each returns a query string;
the values put in it are dates and times this module formats itself, never user input.
"""

from __future__ import annotations

import datetime as dt

from sinks.sql import datetime64


def match_rate(day: dt.date) -> str:
    """source_system, events, matched for the day (the match_rate view), most unmatched first."""
    return (
        "SELECT source_system, sum(events), sum(matched) FROM match_rate "
        f"WHERE day = toDate('{day.isoformat()}') "
        "GROUP BY source_system ORDER BY sum(unmatched) DESC, source_system"
    )


def flow(now: dt.datetime, window_s: int = 60) -> str:
    """events/s inserted over the last window, freshness p50 (inserted - received) in s."""
    since = datetime64(now - dt.timedelta(seconds=window_s))
    return (
        f"SELECT count() / {window_s}, "
        "quantileExact(0.5)(dateDiff('millisecond', received_at, inserted_at)) / 1000 "
        f"FROM contact_events WHERE inserted_at >= {since}"
    )
