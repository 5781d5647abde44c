"""Decoded VolunteerShift and PersonSignal records -> rows of volunteer_shifts, person_signals.

Plain functions, no I/O, like :mod:`sinks.rows`: timestamps arrive as tz-aware datetimes and
event ids as uuid.UUID; absent optional strings are stored as ''.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]
Row = list[Any]

_PERSON = ("state", "voter_id", "van_id", "state_file_id", "vendor_id")

SHIFT_COLUMNS = [
    "event_id", "source_system", "source_event_id", "org_id", "campaign_id", "shift_id",
    *_PERSON, "volunteer_event_id", "event_type", "team_id", "shift_start", "shift_end",
    "status", "status_raw", "status_at", "received_at",
]  # fmt: skip

SIGNAL_COLUMNS = [
    "event_id", "source_system", "source_event_id", "org_id", "campaign_id", "occurred_at",
    "received_at", *_PERSON, "phone", "kind", "channel", "code", "raw",
    "contact_source_event_id",
]  # fmt: skip


def _person(record: Record) -> list[str]:
    person = record.get("person") or {}
    return [person.get(k) or "" for k in _PERSON]


def shift_row(shift: Record) -> Row:
    """One volunteer_shifts row (SHIFT_COLUMNS order) from a decoded VolunteerShift."""
    return [
        str(shift["event_id"]),
        shift["source_system"],
        shift["source_event_id"],
        shift["org_id"],
        shift["campaign_id"],
        shift["shift_id"],
        *_person(shift),
        shift.get("volunteer_event_id") or "",
        shift["event_type"],
        shift.get("team_id") or "",
        shift.get("shift_start"),
        shift.get("shift_end"),
        shift["status"],
        shift["status_raw"],
        shift["status_at"],
        shift["received_at"],
    ]


def signal_row(signal: Record) -> Row:
    """One person_signals row (SIGNAL_COLUMNS order) from a decoded PersonSignal."""
    return [
        str(signal["event_id"]),
        signal["source_system"],
        signal["source_event_id"],
        signal["org_id"],
        signal.get("campaign_id") or "",
        signal["occurred_at"],
        signal["received_at"],
        *_person(signal),
        signal.get("phone") or "",
        signal["kind"],
        signal.get("channel") or "",
        signal.get("code") or "",
        signal["raw"],
        signal.get("contact_source_event_id") or "",
    ]
