"""Where each goal will end: a forecast from the program's own days and its ramp (pure functions).

The model, for one metric of one campaign, days on the campaign's clock:

- a day's expected volume is proportional to its *shape*: ``weekday weight x ramp level``. The
  weights (Monday first) and the levels (on dates, linear between them, flat outside) come from
  programs.yaml (``ramp:``); weights left out are learned from the last four weeks (each
  weekday's share, when at least two weeks have data; else even), levels left out are flat;
- the *rate* is the volume per unit of shape, fitted on the last 28 complete days;
- within today, the share of a day's work done by now follows the campaign's hour profile
  (learned from the last 28 days; even when there is none);
- *projected*: what is done + rate x the shape still ahead in the period;
  *at the current rate*: what is done + the mean of the last 7 complete days x the days left;
- the *interval* (90%) adds day-to-day noise (the spread of each past day around the model,
  multiplicative, plus Poisson noise) and the uncertainty of the fitted rate;
- *reached on*: the first day the cumulative total, done then projected day by day with the
  same shape (past the period's end if need be, up to eight weeks), reaches the target.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.config import RampConfig

Z90 = 1.6448536269514722
HISTORY_DAYS = 28
RECENT_DAYS = 7
HORIZON_DAYS = 56
DEFAULT_LOG_SD = 0.5  # day-to-day spread assumed while there is too little history


@dataclass(frozen=True)
class Forecast:
    actual: float
    projected: float  # with the ramp
    current_rate: float  # at the mean of the last 7 days
    low: float
    high: float
    reached_on: dt.date | None
    shape: str  # 'configured', 'learned' or 'even' (where the weekday weights came from)


def level(ramp: RampConfig, day: dt.date) -> float:
    """The ramp's level on ``day`` (linear between points, flat outside, 1 with none)."""
    points = sorted(ramp.points, key=lambda p: p.date)
    if not points:
        return 1.0
    if day <= points[0].date:
        return points[0].level
    for a, b in itertools.pairwise(points):
        if a.date <= day <= b.date:
            span = (b.date - a.date).days or 1
            return a.level + (b.level - a.level) * (day - a.date).days / span
    return points[-1].level


def learned_weekdays(history: Mapping[dt.date, float], today: dt.date) -> list[float] | None:
    """Each weekday's mean share of its week, from the last four complete weeks with work;
    None with fewer than two."""
    monday = today - dt.timedelta(days=today.weekday())
    weeks = []
    for k in range(1, 5):
        start = monday - dt.timedelta(days=7 * k)
        values = [history.get(start + dt.timedelta(days=i), 0.0) for i in range(7)]
        if sum(values) > 0:
            weeks.append([v / sum(values) for v in values])
    if len(weeks) < 2:
        return None
    return [sum(w[i] for w in weeks) / len(weeks) * 7 for i in range(7)]


def shape_of(
    ramp: RampConfig, history: Mapping[dt.date, float], today: dt.date
) -> tuple[list[float], str]:
    if ramp.weekdays is not None:
        return list(ramp.weekdays), "configured"
    learned = learned_weekdays(history, today)
    return (learned, "learned") if learned is not None else ([1.0] * 7, "even")


def day_fraction(hours: Sequence[float], at: dt.datetime) -> float:
    """The share of a day's work done by local time ``at`` (``hours``: 24 volumes)."""
    total = sum(hours)
    if total <= 0:
        return (at.hour + at.minute / 60) / 24
    done = sum(hours[: at.hour]) + hours[at.hour] * (at.minute + at.second / 60) / 60
    return min(max(done / total, 0.0), 1.0)


def forecast(
    *,
    done: Mapping[dt.date, float],
    period: tuple[dt.date, dt.date],
    now: dt.datetime,
    target: float,
    ramp: RampConfig,
    hours: Sequence[float] = (),
) -> Forecast:
    """The forecast of one metric for the period [start, end) (local days), at local ``now``.

    ``done``: the metric per local day, today's so far included (days before the period are
    the history the rate is fitted on)."""
    today = now.date()
    start, end = period
    weights, source = shape_of(ramp, done, today)

    def w(day: dt.date) -> float:
        return weights[day.weekday()] * level(ramp, day)

    actual = sum(v for d, v in done.items() if start <= d <= today and d < end)
    frac = day_fraction(list(hours) or [0.0] * 24, now)
    past = [today - dt.timedelta(days=i) for i in range(1, HISTORY_DAYS + 1)]
    fit = [(done.get(d, 0.0), w(d)) for d in past if w(d) > 0]
    # the rate: the history's volume per unit of shape, and today's own so far when alone
    volume = sum(y for y, _ in fit) + done.get(today, 0.0)
    shape = sum(x for _, x in fit) + w(today) * frac
    rate = volume / shape if shape > 0 else 0.0

    ahead = [(today, w(today) * (1 - frac))] + [
        (today + dt.timedelta(days=i), w(today + dt.timedelta(days=i)))
        for i in range(1, (end - today).days)
    ]
    ahead = [(d, x) for d, x in ahead if d < end]
    remaining = rate * sum(x for _, x in ahead)

    recent = [done.get(today - dt.timedelta(days=i), 0.0) for i in range(1, RECENT_DAYS + 1)]
    days_left = max((end - today).days - frac, 0.0)
    current = actual + sum(recent) / RECENT_DAYS * days_left

    used = [(y, x) for y, x in fit if y > 0]
    if len(used) >= 3 and rate > 0:
        logs = [math.log((y + 0.5) / (rate * x + 0.5)) for y, x in used]
        mean = sum(logs) / len(logs)
        var = sum((v - mean) ** 2 for v in logs) / (len(logs) - 1)
        n = len(used)
    else:
        var, n = DEFAULT_LOG_SD**2, 1
    spread = sum((rate * x) ** 2 for _, x in ahead) * (math.exp(var) - 1)
    sd = math.sqrt(spread + remaining + remaining**2 * var / n)
    low = actual + max(remaining - Z90 * sd, 0.0)
    high = actual + remaining + Z90 * sd

    reached = None
    cumulative = sum(v for d, v in done.items() if start <= d < today)
    for i in range(HORIZON_DAYS + 1):
        day = today + dt.timedelta(days=i)
        if i == 0:
            cumulative += done.get(today, 0.0) + rate * w(today) * (1 - frac)
        else:
            cumulative += rate * w(day)
        if target > 0 and cumulative >= target:
            reached = day
            break
    if target > 0 and actual >= target:  # already done: the day it got there
        running = 0.0
        for i in range((today - start).days + 1):
            day = start + dt.timedelta(days=i)
            running += done.get(day, 0.0)
            if running >= target:
                reached = day
                break
    return Forecast(actual, actual + remaining, current, low, high, reached, source)
