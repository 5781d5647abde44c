"""Contacts at the edges of the program's clock, and their recount with zoneinfo.

Two campaigns on two zones (Los Angeles, New York). In 2026 the US leaves daylight time on
Sunday 1 November and enters it on Sunday 8 March, so the week boundary (Sunday night to
Monday) falls on both change days. Each campaign gets contacts at 23:30 and 00:30 local time
around those boundaries and at the changes themselves (01:30 twice in November, 03:30 on the
short day in March), each as a door knock with an ID and as a text to one person (texted is
one attempt per person and local day), from two tools and two canvassers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

ORG = "clock-org"
ZONES = {"west": "America/Los_Angeles", "east": "America/New_York"}
# (local wall time, fold): fold=1 is the second 01:30 of the November night
LOCAL_TIMES: list[tuple[dt.datetime, int]] = [
    (dt.datetime(2026, 3, 7, 23, 30), 0),  # Saturday before the spring change
    (dt.datetime(2026, 3, 8, 0, 30), 0),  # the short Sunday
    (dt.datetime(2026, 3, 8, 3, 30), 0),  # just after the missing hour
    (dt.datetime(2026, 3, 8, 23, 30), 0),  # Sunday night: last of the week
    (dt.datetime(2026, 3, 9, 0, 30), 0),  # Monday: a new week
    (dt.datetime(2026, 10, 31, 23, 30), 0),  # Saturday before the autumn change
    (dt.datetime(2026, 11, 1, 0, 30), 0),  # the long Sunday
    (dt.datetime(2026, 11, 1, 1, 30), 0),  # 01:30 daylight time
    (dt.datetime(2026, 11, 1, 1, 30), 1),  # 01:30 again, standard time
    (dt.datetime(2026, 11, 1, 23, 30), 0),  # Sunday night: last of the week
    (dt.datetime(2026, 11, 2, 0, 30), 0),  # Monday: a new week
]
TOOLS = ("spoke", "van")
Event = dict[str, Any]


def utc_of(local: dt.datetime, fold: int, zone: str) -> dt.datetime:
    return local.replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(dt.UTC)


def local_day(at: dt.datetime, zone: str) -> dt.date:
    return at.astimezone(ZoneInfo(zone)).date()


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def enriched(
    n: int, campaign: str, at: dt.datetime, *, channel: str, voter: str, canvasser: str, tool: str
) -> Event:
    texted = channel == "text"
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"clock-{campaign}-{n}"),
            "source_system": tool,
            "source_event_id": f"{campaign}-{n}",
            "org_id": ORG,
            "campaign_id": campaign,
            "channel": channel,
            "occurred_at": at,
            "received_at": at,
            "person": {"voter_id": voter, "state": "PA"},
            "canvasser_id": canvasser,
            "team_id": "t1",
            "result": "texted" if texted else "canvassed",
            "result_raw": "x",
            "responses": []
            if texted
            else [{"question_id": "q", "answer": "a", "support_level": 1 + n % 5}],
            "script_completed": None if texted else n % 2 == 0,
        },
        "voter_matched": True,
        "voter": {
            "voter_id": voter,
            "state": "PA",
            "county": "Erie",
            "precinct": f"P{n % 3}",
            "age": 30 + n % 40,
            "sex": ("female", "male")[n % 2],
            "race": ("black", "white", "latino")[n % 3],
            "race_source": "self_reported",
            "ethnicity": "not_hispanic",
            "ethnicity_source": "self_reported",
            "updated_at": at,
        },
        "enriched_at": at,
    }


def events() -> list[Event]:
    """Each campaign, each edge time: a door knock (own voter, an ID) and a text to the one
    person texted every time, alternating tools and canvassers."""
    out = []
    for campaign, zone in ZONES.items():
        n = 0
        for local, fold in LOCAL_TIMES:
            at = utc_of(local, fold, zone)
            for channel in ("door", "text"):
                voter = "V-texted" if channel == "text" else f"V{n}"
                out.append(
                    enriched(
                        n,
                        campaign,
                        at,
                        channel=channel,
                        voter=voter,
                        canvasser=f"c{n % 2}",
                        tool=TOOLS[n % 2],
                    )
                )
                n += 1
    return out


def measures(rows: Iterable[Event], zone_of: Callable[[str], str]) -> dict[str, int]:
    """attempts (texted once per person and local day), contacts, ids, people reached."""
    sets: dict[str, set[Hashable]] = defaultdict(set)
    for e in rows:
        c = e["contact"]
        day = local_day(c["occurred_at"], zone_of(c["campaign_id"]))
        person = (c["person"]["state"], c["person"]["voter_id"])
        texted = c["result"] == "texted"
        sets["attempts"].add((c["campaign_id"], day, person) if texted else c["event_id"])
        if not texted:
            sets["contacts"].add(c["event_id"])
            sets["ids"].add(c["event_id"])
            sets["people_reached"].add(person)
    return {k: len(sets[k]) for k in ("attempts", "contacts", "ids", "people_reached")}


def by(
    rows: Iterable[Event], zone_of: Callable[[str], str], key: Callable[[Event, dt.date], Hashable]
) -> dict[Hashable, dict[str, int]]:
    """measures() per key(event, its local day)."""
    groups: dict[Hashable, list[Event]] = defaultdict(list)
    for e in rows:
        c = e["contact"]
        groups[key(e, local_day(c["occurred_at"], zone_of(c["campaign_id"])))].append(e)
    return {k: measures(v, zone_of) for k, v in groups.items()}
