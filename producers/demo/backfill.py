"""A past for the demo program: several weeks of contacts at the rates its goals expect,
imported through the bulk lane like any export (the import loop, then the stream validates,
dedupes and enriches them and the sink stores them), so the boards, the report's week-by-week
charts and the forecast show trends on the first run, while the live lane stays live.

:func:`history_plan` is pure: how many events each past hour gets. Field work follows the
week (weekend canvasses, weekday evening phone banks) and the program ramps up: each past
week reaches a rising share of its attempts goal (``producers.demo.state.goal_rows``), from
about 60% four weeks ago to about 95% last week, and this week so far its pace.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import defaultdict

from core.settings import Settings
from producers.demo.simulator import Event, generate_events, read_world
from producers.demo.state import goal_rows
from producers.importers.runner import run_rows
from producers.tools.base import AdapterContext

log = logging.getLogger(__name__)

SOURCE = "backfill"  # the source_system of history events (the simulator's is 'simulator')
DAY_WEIGHTS = (0.8, 0.8, 0.9, 0.9, 1.0, 1.8, 1.6)  # Monday .. Sunday
# field hours (UTC in the demo): 9:00 to 20:00, busiest in the evening
HOUR_WEIGHTS = dict(zip(range(9, 21), (1, 2, 3, 3, 3, 3, 3, 4, 5, 5, 4, 2), strict=True))


def history_plan(
    now: dt.datetime, weeks: int = 4, rate: float = 20.0
) -> list[tuple[dt.datetime, int]]:
    """(start of an hour, events in it) for the ``weeks`` weeks before ``now``'s hour."""
    today = now.date()
    monday = today - dt.timedelta(days=today.weekday())
    goal: dict[dt.date, int] = defaultdict(int)
    for _org, _campaign, week_start, metric, target in goal_rows(today, rate):
        if metric == "attempts":
            goal[dt.date.fromisoformat(week_start)] += target
    plan = []
    hour_total = sum(HOUR_WEIGHTS.values())
    day_total = sum(DAY_WEIGHTS)
    for w in range(-weeks, 1):
        week = monday + dt.timedelta(weeks=w)
        reached = 0.95 - 0.35 * (-w - 1) / max(1, weeks - 1) if w < 0 else 0.95
        per_week = goal.get(week, 0) * reached
        for d in range(7):
            day = week + dt.timedelta(days=d)
            per_day = per_week * DAY_WEIGHTS[d] / day_total
            for hour, weight in HOUR_WEIGHTS.items():
                start = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
                if start + dt.timedelta(hours=1) > now:
                    continue
                n = round(per_day * weight / hour_total)
                if n:
                    plan.append((start, n))
    return plan


def run_backfill(settings: Settings, weeks: int = 4) -> int:
    """Import ``weeks`` weeks of history through the bulk lane; returns the events sent."""
    rng = random.Random(settings.simulator.seed)  # the same past on every machine
    world = read_world(settings.data_dir / "demo", rng)
    by_org: dict[str, list[Event]] = defaultdict(list)
    for hour, n in history_plan(dt.datetime.now(dt.UTC), weeks, settings.simulator.rate):
        at = hour + dt.timedelta(minutes=rng.uniform(10, 60))
        # no bad events in the past (the live simulator sends those); a few retries
        made = generate_events(
            world.voters, rng, n, at, bad_share=0.0, duplicate_share=0.01, world=world
        )
        for event, _kind in made:
            event["source_system"] = SOURCE
            by_org[event["org_id"]].append(event)
    sent = 0
    for org, events in sorted(by_org.items()):
        ctx = AdapterContext(source_id=f"{org}-simulator", org_id=org, source_system=SOURCE)
        summary = run_rows(
            list(enumerate(events, start=1)),
            lambda row, _ctx: [row],
            ctx,
            settings.kafka,
            source=f"demo-backfill-{org}",
            checkpoint_path=None,
        )
        log.info("backfill: %s", summary)
        sent += summary.sent
    return sent
