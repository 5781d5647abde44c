"""The board's SQL over the ClickHouse model (sinks/ddl): one function per panel.

Each returns a query string; the values put in it are dates and times this module formats
itself, never user input.
"""

from __future__ import annotations

import datetime as dt


def _ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def goals(week_start: dt.date) -> str:
    """org_id, campaign_id, metric, target, actual for the week."""
    return (
        "SELECT toString(org_id), toString(campaign_id), toString(metric), target, actual "
        f"FROM goal_progress WHERE week_start = toDate('{week_start.isoformat()}') "
        "ORDER BY org_id, campaign_id, metric"
    )


def channels(day: dt.date) -> str:
    """channel, attempts, contacts, ids, ids_support, ids_undecided, ids_oppose for the day."""
    return (
        "SELECT toString(channel), sum(attempts), sum(contacts), sum(ids), sum(ids_support), "
        "sum(ids_undecided), sum(ids_oppose) FROM contact_progress_daily "
        f"WHERE day = toDate('{day.isoformat()}') GROUP BY channel ORDER BY channel"
    )


def by_race(day: dt.date) -> str:
    """race, race_source, attempts, contacts, ids for the day."""
    return (
        "SELECT toString(race), toString(race_source), sum(attempts), sum(contacts), sum(ids) "
        f"FROM contact_progress_daily WHERE day = toDate('{day.isoformat()}') "
        "GROUP BY race, race_source ORDER BY sum(attempts) DESC, race, race_source"
    )


def by_sex(day: dt.date) -> str:
    """sex, attempts, contacts, ids for the day."""
    return (
        "SELECT toString(sex), sum(attempts), sum(contacts), sum(ids) "
        f"FROM contact_progress_daily WHERE day = toDate('{day.isoformat()}') "
        "GROUP BY sex ORDER BY sum(attempts) DESC, sex"
    )


def coverage() -> str:
    """org_id, campaign_id, distinct universe voters attempted, universe size (the current
    load of each universe: see the universe_coverage view)."""
    return (
        "SELECT org_id, campaign_id, attempted, universe FROM universe_coverage "
        "ORDER BY org_id, campaign_id"
    )


def match_rate(day: dt.date) -> str:
    """source_system, events, matched for the day (the match_rate view), most unmatched first."""
    return (
        "SELECT source_system, sum(events), sum(matched) FROM match_rate "
        f"WHERE day = toDate('{day.isoformat()}') "
        "GROUP BY source_system ORDER BY sum(unmatched) DESC, source_system"
    )


def dead_letters() -> str:
    """reason_code, count."""
    return (
        "SELECT toString(reason_code), count() FROM dead_letters FINAL "
        "GROUP BY reason_code ORDER BY count() DESC, reason_code"
    )


def flow(now: dt.datetime, window_s: int = 60) -> str:
    """events/s inserted over the last window, freshness p50 (inserted - received) in s."""
    since = _ts(now - dt.timedelta(seconds=window_s))
    return (
        f"SELECT count() / {window_s}, "
        "quantileExact(0.5)(dateDiff('millisecond', received_at, inserted_at)) / 1000 "
        f"FROM contact_events WHERE inserted_at >= toDateTime64('{since}', 3, 'UTC')"
    )
