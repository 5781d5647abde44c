"""The analytics model on real chDB: every view equals a recount of the events, at every grain.

Random contacts (channels, teams, canvassers, turfs, precincts, demographics, scripts, support
levels, repeated texts) are inserted, then a redelivery of a third of them; the five-minute,
hourly, daily and weekly views and the per-canvasser view must equal counts made here in
Python, and people reached must be merged (not summed) across buckets.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

import pytest

from schemas import ENRICHED_CONTACT, AvroCodec
from sinks.migrate import migrate
from sinks.rows import CONTACT_COLUMNS, contact_row
from sinks.store import LockedStore, open_store

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
START = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)  # a Monday
RACES = [("black", "self_reported"), ("white", "bisg"), ("latino", "vendor_model")]


def make(rng: random.Random, i: int) -> dict[str, Any]:
    channel = rng.choice(["door", "phone", "text"])
    result = rng.choice(
        {"door": ["canvassed", "not_home"], "phone": ["canvassed", "busy"], "text": ["texted"]}[
            channel
        ]
    )
    canvassed = result == "canvassed"
    level = rng.randint(1, 5)
    voter = f"V{rng.randrange(40)}"
    race, source = rng.choice(RACES)
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"analytics-{i}"),
            "source_system": "t",
            "source_event_id": str(i),
            "org_id": "org-x",
            "campaign_id": rng.choice(["gotv", "persuasion"]),
            "channel": channel,
            "occurred_at": START + dt.timedelta(minutes=rng.randrange(60 * 24 * 9)),
            "received_at": START,
            "person": {"voter_id": voter, "state": "PA"},
            "team_id": rng.choice(["north", "south"]),
            "canvasser_id": f"c{rng.randrange(5)}",
            "turf_id": f"T{rng.randrange(3)}",
            "result": result,
            "result_raw": result,
            "responses": (
                [{"question_id": "q", "answer": "a", "support_level": level}]
                if canvassed and rng.random() < 0.6
                else []
            ),
            "script_completed": rng.choice([True, False, None]) if canvassed else None,
        },
        "voter_matched": True,
        "voter": {
            "voter_id": voter,
            "state": "PA",
            "county": rng.choice(["Erie", "Crawford"]),
            "precinct": f"P{rng.randrange(4)}",
            "congressional_district": "16",
            "age": rng.randint(18, 90),
            "sex": rng.choice(["female", "male"]),
            "race": race,
            "race_source": source,
            "updated_at": START,
        },
        "enriched_at": START,
    }


def _key(value: Any) -> Any:
    """A result cell as the recount keys it: aware UTC datetimes, dates, strings."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC)
    return value if isinstance(value, dt.date) else str(value)


def period_start(when: dt.datetime, period: str) -> dt.datetime:
    if period == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day - dt.timedelta(days=day.weekday())


def recount(
    events: list[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]
) -> dict[Hashable, tuple[int, int, int, int, int, int]]:
    """attempts, contacts, ids, ids_support, scripts_completed, people_reached per key."""
    sets: dict[Hashable, list[set[Any]]] = defaultdict(lambda: [set() for _ in range(6)])
    for e in events:
        c, s = e["contact"], sets[key(e)]
        day = c["occurred_at"].date()
        texted = c["result"] == "texted"
        s[0].add(("t", c["person"]["voter_id"], c["campaign_id"], day) if texted else c["event_id"])
        if c["result"] == "canvassed":
            s[1].add(c["event_id"])
            s[5].add(c["person"]["voter_id"])
            if c["script_completed"]:
                s[4].add(c["event_id"])
            if c["responses"]:
                s[2].add(c["event_id"])
                if c["responses"][0]["support_level"] <= 2:
                    s[3].add(c["event_id"])
    return {k: tuple(len(x) for x in v) for k, v in sets.items()}  # type: ignore[misc]


# measures that can be summed across rows (one event, one row)
SUMMED = "sum(contacts), sum(ids), sum(ids_support), sum(scripts_completed)"
# measures of distinct people (texted attempts, people reached): merged, never summed
MERGED = "uniqExactMerge(attempts), uniqExactMerge(people_reached)"


def test_every_grain_equals_a_recount(chdb_dsn: str) -> None:
    rng = random.Random(5)
    events = [make(rng, i) for i in range(1500)]
    store = LockedStore(open_store(chdb_dsn))
    try:
        migrate(store.client)
        rows = [contact_row(CODEC.decode(CODEC.encode(ENRICHED_CONTACT, e))[1]) for e in events]
        store.insert("contact_events", CONTACT_COLUMNS, rows, "analytics:0:0")
        store.insert("contact_events", CONTACT_COLUMNS, rows[::3], "analytics:0:1")  # redelivery

        def grouped(sql: str, n_keys: int) -> dict[Hashable, tuple[int, ...]]:
            out = {}
            for r in store.query(sql)[2]:
                key = tuple(_key(k) for k in r[:n_keys])
                out[key] = tuple(int(x) for x in r[n_keys:])
            return out

        def summed(want: dict[Hashable, tuple[int, ...]]) -> dict[Hashable, tuple[int, ...]]:
            return {k: v[1:5] for k, v in want.items()}

        def merged(want: dict[Hashable, tuple[int, ...]]) -> dict[Hashable, tuple[int, ...]]:
            return {k: (v[0], v[5]) for k, v in want.items()}

        by_5m = recount(
            events,
            lambda e: (
                e["contact"]["campaign_id"],
                e["contact"]["occurred_at"].replace(
                    minute=e["contact"]["occurred_at"].minute // 5 * 5, second=0
                ),
                e["contact"]["team_id"],
                e["voter"]["race"],
                e["voter"]["race_source"],
            ),
        )
        keys = "campaign_id, bucket, team_id, race, race_source"
        assert grouped(
            f"SELECT {keys}, {SUMMED} FROM contact_progress_5m GROUP BY {keys}", 5
        ) == summed(by_5m)
        assert grouped(
            f"SELECT {keys}, {MERGED} FROM contact_rollup_5m GROUP BY {keys}", 5
        ) == merged(by_5m)

        for period, start_sql in PERIOD_SQL.items():
            want = recount(
                events,
                lambda e, period=period: (
                    e["contact"]["campaign_id"],
                    period_start(e["contact"]["occurred_at"], period),
                    e["contact"]["channel"],
                ),
            )
            got_merged = grouped(
                f"SELECT campaign_id, {start_sql} AS p, channel, {MERGED} "
                "FROM contact_rollup_5m GROUP BY campaign_id, p, channel",
                3,
            )
            assert got_merged == merged(want), period
            got_summed = grouped(
                f"SELECT campaign_id, period_start, channel, {SUMMED} "
                f"FROM contact_progress_by_period(tz = 'UTC') WHERE period = '{period}' "
                "GROUP BY campaign_id, period_start, channel",
                3,
            )
            assert got_summed == summed(want), period

        # per canvasser and day, at the view's own grain: every measure exact
        got_c = grouped(
            "SELECT campaign_id, channel, day, team_id, canvasser_id, attempts, contacts, "
            "ids, scripts_completed, people_reached FROM canvasser_progress_daily",
            5,
        )
        want_c = recount(
            events,
            lambda e: (
                e["contact"]["campaign_id"],
                e["contact"]["channel"],
                e["contact"]["occurred_at"].date(),
                e["contact"]["team_id"],
                e["contact"]["canvasser_id"],
            ),
        )
        assert got_c == {k: (v[0], v[1], v[2], v[4], v[5]) for k, v in want_c.items()}
    finally:
        store.close()


PERIOD_SQL = {
    "hour": "toStartOfHour(bucket)",
    "day": "toDateTime(toDate(bucket), 'UTC')",
    "week": "toDateTime(toMonday(bucket), 'UTC')",
}
