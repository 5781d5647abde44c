"""The demo's volunteer shifts: a saved Mobilize API export (one page per org) of synthetic
attendances, as ``fieldstream import mobilize --file`` reads it.

Two weeks back and one ahead of ``today``: each day a few events per type (canvass, phone
bank, text bank, training) by one of two teams (the sponsoring organization's slug), each
with volunteers signed up. Past shifts were attended, missed (no-show) or cancelled; future
ones are registered or confirmed. A function of the seed and ``today`` only.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

EVENT_TYPES = ("CANVASS", "PHONE_BANK", "TEXT_BANK", "TRAINING")
TEAMS = ("north-office", "south-office")
VOLUNTEERS = 150
DAYS_BACK, DAYS_AHEAD = 14, 7


def attendances(org_id: str, today: dt.date, rng: random.Random) -> list[dict[str, Any]]:
    """Mobilize Attendance objects (the README's shape) for ``org_id``'s demo shifts."""
    out: list[dict[str, Any]] = []
    org_number = sum(map(ord, org_id))  # distinct ids per org, stable across runs
    attendance_id = org_number * 100_000
    for offset in range(-DAYS_BACK, DAYS_AHEAD + 1):
        day = today + dt.timedelta(days=offset)
        for n, event_type in enumerate(EVENT_TYPES):
            if event_type == "TRAINING" and day.weekday() != 5:
                continue  # trainings on Saturdays
            team = TEAMS[(offset + n) % len(TEAMS)]
            start = dt.datetime.combine(day, dt.time(10 + 3 * (n % 3)), dt.UTC)
            event_id = org_number * 1000 + (offset + DAYS_BACK) * 10 + n
            for _ in range(rng.randint(3, 8)):
                attendance_id += 1
                person = rng.randrange(VOLUNTEERS)
                out.append(
                    _attendance(
                        attendance_id,
                        org_number * 1000 + person,
                        event_id,
                        event_type,
                        team,
                        start,
                        past=offset < 0,
                        rng=rng,
                        as_of=dt.datetime.combine(today, dt.time(9), dt.UTC),
                    )
                )
    return out


def _attendance(
    attendance_id: int,
    person_id: int,
    event_id: int,
    event_type: str,
    team: str,
    start: dt.datetime,
    *,
    past: bool,
    rng: random.Random,
    as_of: dt.datetime,
) -> dict[str, Any]:
    end = start + dt.timedelta(hours=3)
    attended: bool | None
    if past:
        roll = rng.random()
        status, attended = ("CONFIRMED", True) if roll < 0.68 else ("CONFIRMED", False)
        if roll >= 0.86:
            status, attended = "CANCELLED", None
        modified = end + dt.timedelta(hours=2)
    else:
        status, attended = rng.choice(("REGISTERED", "CONFIRMED")), None
        # signed up two days ahead, or by now for later shifts: never modified in the future
        modified = min(start - dt.timedelta(days=2), as_of)
    sponsor = {"id": 15 + TEAMS.index(team), "name": team.replace("-", " ").title(), "slug": team}
    return {
        "id": attendance_id,
        "created_date": int((start - dt.timedelta(days=5)).timestamp()),
        "modified_date": int(modified.timestamp()),
        "person": {
            "id": person_id,
            "user_id": person_id,
            "given_name": "Demo",
            "family_name": f"Volunteer{person_id}",
            "sms_opt_in_status": "OPT_OUT" if person_id % 37 == 0 else "UNSPECIFIED",
        },
        "event": {"id": event_id, "title": f"Demo {event_type.lower()}", "event_type": event_type},
        "timeslot": {
            "id": event_id,
            "start_date": int(start.timestamp()),
            "end_date": int(end.timestamp()),
        },
        "sponsor": sponsor,
        "status": status,
        "attended": attended,
    }


def write_export(path: Path, org_id: str, today: dt.date, seed: int) -> Path:
    """The org's demo shifts as one Mobilize API page, at ``path`` (kept if present)."""
    if not path.exists():
        rows = attendances(org_id, today, random.Random(f"{seed}:{org_id}"))
        page = {"count": len(rows), "next": None, "previous": None, "data": rows}
        path.write_text(json.dumps(page, indent=1), encoding="utf-8")
    return path
