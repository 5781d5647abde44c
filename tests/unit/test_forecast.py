"""The forecast (sinks/forecast.py) on synthetic programs whose ramp and noise are known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from core.config import RampConfig, RampPoint
from sinks.forecast import day_fraction, forecast, learned_weekdays, level

START = dt.date(2026, 9, 7)  # a Monday
WEEKDAYS = [1.0, 1.0, 1.0, 1.1, 1.3, 1.9, 1.6]
RAMP = RampConfig(
    weekdays=WEEKDAYS,
    points=[RampPoint(date=START, level=1.0), RampPoint(date=START + dt.timedelta(42), level=3.0)],
)
HOURS = [0.0] * 9 + [1.0] * 12 + [0.0] * 3  # work from 09:00 to 21:00
RATE = 150.0


def simulate(seed: int) -> tuple[dict[dt.date, float], dt.datetime, float, tuple[dt.date, dt.date]]:
    """Six weeks of days drawn around the known shape; 'now' is Wednesday 15:20 of week 6.
    Returns (what is known by then, now, the period's true total, the period)."""
    rng = np.random.default_rng(seed)
    days = [START + dt.timedelta(days=i) for i in range(42)]
    truth = {
        d: float(
            rng.poisson(RATE * WEEKDAYS[d.weekday()] * level(RAMP, d) * rng.lognormal(0, 0.15))
        )
        for d in days
    }
    period = (START + dt.timedelta(35), START + dt.timedelta(42))
    now = dt.datetime.combine(period[0] + dt.timedelta(2), dt.time(15, 20))
    frac = day_fraction(HOURS, now)
    known = {d: v for d, v in truth.items() if d < now.date()}
    known[now.date()] = float(rng.binomial(int(truth[now.date()]), frac))
    total = sum(v for d, v in truth.items() if period[0] <= d < period[1])
    return known, now, total, period


def test_the_forecast_recovers_the_true_total_within_its_interval() -> None:
    inside, errors = 0, []
    for seed in range(60):
        known, now, total, period = simulate(seed)
        f = forecast(done=known, period=period, now=now, target=5000, ramp=RAMP, hours=HOURS)
        inside += f.low <= total <= f.high
        errors.append(abs(f.projected - total) / total)
        assert f.low <= f.projected <= f.high
        assert f.actual == sum(v for d, v in known.items() if d >= period[0])
        assert f.shape == "configured"
    assert inside >= 51  # a 90% interval: at least 85% of the programs
    assert float(np.mean(errors)) < 0.05


def test_the_ramp_beats_the_current_rate_when_the_program_ramps() -> None:
    ramp_err, flat_err = [], []
    for seed in range(30):
        known, now, total, period = simulate(seed)
        f = forecast(done=known, period=period, now=now, target=5000, ramp=RAMP, hours=HOURS)
        ramp_err.append(abs(f.projected - total))
        flat_err.append(abs(f.current_rate - total))
    assert np.mean(ramp_err) < 0.5 * np.mean(flat_err)


def test_reached_on_is_the_day_the_cumulative_crosses_the_target() -> None:
    known, now, total, period = simulate(3)
    f = forecast(done=known, period=period, now=now, target=total * 0.9, ramp=RAMP, hours=HOURS)
    assert f.reached_on is not None and now.date() <= f.reached_on < period[1]
    beyond = forecast(done=known, period=period, now=now, target=total * 3, ramp=RAMP, hours=HOURS)
    assert beyond.reached_on is None or beyond.reached_on >= period[1]
    done_already = sum(v for d, v in known.items() if d >= period[0])
    early = forecast(done=known, period=period, now=now, target=done_already / 2, ramp=RAMP)
    assert early.reached_on is not None and early.reached_on < now.date()


def test_weekdays_are_learned_when_not_configured() -> None:
    known, now, _total, period = simulate(5)
    learned = learned_weekdays(known, now.date())
    assert learned is not None
    assert learned[5] > learned[0]  # Saturdays are busier than Mondays
    f = forecast(done=known, period=period, now=now, target=1, ramp=RampConfig(), hours=HOURS)
    assert f.shape == "learned"
    empty = forecast(done={}, period=period, now=now, target=1, ramp=RampConfig())
    assert empty.shape == "even" and empty.projected == 0 and empty.low == 0


@pytest.mark.parametrize(("hour", "share"), [(8, 0.0), (9, 0.0), (15, 0.5), (21, 1.0), (23, 1.0)])
def test_day_fraction_follows_the_hours(hour: int, share: float) -> None:
    assert day_fraction(HOURS, dt.datetime(2026, 10, 14, hour)) == pytest.approx(share)
    assert day_fraction([], dt.datetime(2026, 10, 14, 12)) == pytest.approx(0.5)
