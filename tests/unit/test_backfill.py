"""The demo's past (producers/demo/backfill.py): hours of field work over the weeks before now,
at a rising share of each week's attempts goal, none in the future."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from producers.demo.backfill import history_plan
from producers.demo.state import goal_rows

NOW = dt.datetime(2026, 10, 15, 14, 30, tzinfo=dt.UTC)  # a Thursday afternoon


def test_weeks_of_history_rise_toward_the_goal_and_stop_before_now() -> None:
    plan = history_plan(NOW, weeks=4)
    assert plan and all(start + dt.timedelta(hours=1) <= NOW for start, _ in plan)
    monday = NOW.date() - dt.timedelta(days=NOW.weekday())
    assert min(start for start, _ in plan).date() == monday - dt.timedelta(weeks=4)
    per_week: dict[dt.date, int] = defaultdict(int)
    for start, n in plan:
        per_week[start.date() - dt.timedelta(days=start.weekday())] += n
    goals: dict[dt.date, int] = defaultdict(int)
    for _o, _c, week, metric, target in goal_rows(NOW.date()):
        if metric == "attempts":
            goals[dt.date.fromisoformat(week)] += target
    shares = [per_week[w] / goals[w] for w in sorted(per_week) if w < monday]
    assert len(shares) == 4
    assert 0.55 < shares[0] < shares[1] < shares[2] < shares[3] < 1.0, shares
    assert 0 < per_week[monday] < goals[monday]  # this week so far


def test_weekends_and_evenings_are_busier() -> None:
    by_day: dict[int, int] = defaultdict(int)
    by_hour: dict[int, int] = defaultdict(int)
    for start, n in history_plan(NOW, weeks=2):
        if start.date() < NOW.date() - dt.timedelta(days=NOW.weekday()):
            by_day[start.weekday()] += n
            by_hour[start.hour] += n
    assert by_day[5] > 1.5 * by_day[1] and by_day[6] > 1.5 * by_day[2]
    assert by_hour[17] > 2 * by_hour[9]
    assert set(by_hour) <= set(range(9, 21))
