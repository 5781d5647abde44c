"""Mobilize attendances -> volunteer shifts (and the volunteer's SMS opt-in or opt-out).

An Attendance (github.com/mobilizeamerica/api README, "Attendance object") is one person's
sign-up to one timeslot of an event: ``id, created_date, modified_date, person, event,
timeslot{id, start_date, end_date}, sponsor, status (REGISTERED | CANCELLED | CONFIRMED),
attended (bool | null)``. It is volunteer recruitment, never a voter contact: it becomes a
VolunteerShift, whatever its event type.

The state of the sign-up, from ``status`` and ``attended``:

- ``attended`` true: attended (the person came, whatever the RSVP said);
- ``attended`` false: no_show, or cancelled when the RSVP was CANCELLED;
- ``attended`` null: the RSVP, lower case (registered, confirmed, cancelled).

Each state is its own record (``source_event_id`` = ``<attendance id>:<state>``), so a shift
keeps its history and re-reading an unchanged attendance adds nothing; ``status_at`` is the
attendance's ``modified_date``, so the latest state is the current one. The volunteer is
``person.vendor_id`` ``mobilize-user:<user_id>`` (Mobilize's canonical person id), or
``mobilize:<id>`` for payloads without ``user_id`` (older ones). The team is the sponsoring
organization's slug (``sponsor``, else ``event.sponsor``), unless ``ctx.options["team"]`` is
``none``.

The person's ``sms_opt_in_status`` (OPT_IN | OPT_OUT | UNSPECIFIED, for the requesting
organization) becomes an opt_in or opt_out PersonSignal on text, keyed on the person and the
status, timed by the attendance's ``modified_date`` (the person's own modified_date may be
older than the opt-out).

An attendance without ``id`` (an independent organization looking at a coordinated one's
event: Mobilize omits it) cannot be stored idempotently: Unmapped (``no_attendance_id``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Unmapped,
    optional,
    require,
    timestamp,
)
from producers.tools.records import person_signal, volunteer_shift

SOURCE_SYSTEM = "mobilize"
STATUSES = ("REGISTERED", "CANCELLED", "CONFIRMED")
SMS_SIGNALS = {"OPT_IN": "opt_in", "OPT_OUT": "opt_out"}  # UNSPECIFIED: no signal


def shift_status(status: str, attended: bool | None) -> str:
    """The ShiftStatus of a Mobilize attendance's RSVP ``status`` and ``attended`` flag."""
    if attended is True:
        return "attended"
    if attended is False:
        return "cancelled" if status == "CANCELLED" else "no_show"
    return status.lower()


def adapt(attendance: Any, ctx: AdapterContext) -> list[Item]:
    """One Attendance object -> a shift state and, when the person has one, an SMS signal."""
    if not isinstance(attendance, dict):
        raise PayloadError("attendance", "must be an object")
    status = require(attendance, "status")
    if status not in STATUSES:
        raise PayloadError("status", f"must be one of {', '.join(STATUSES)}, got {status[:20]!r}")
    attended = optional(attendance, "attended", bool)
    event_type = require(attendance, "event.event_type")
    status_at = timestamp(require(attendance, "modified_date", int), "modified_date")
    person = _person(attendance)
    state = shift_status(status, attended)
    att_id = optional(attendance, "id", int)
    items: list[Item] = []
    if att_id is None:
        items.append(
            Unmapped(
                "no_attendance_id",
                f"a {event_type[:40]} attendance has no id (Mobilize omits it for an "
                "independent organization viewing a coordinated one's event): it cannot be "
                "stored idempotently",
                None,
                ctx.campaign_id,
            )
        )
    else:
        items.append(
            volunteer_shift(
                ctx,
                source_event_id=f"{att_id}:{state}",
                campaign_id=ctx.campaign(),
                shift_id=str(att_id),
                person=person,
                event_type=event_type.strip().lower(),
                status=state,
                status_raw=f"{status}/{_json(attended)}",
                status_at=status_at,
                volunteer_event_id=_event_ref(attendance),
                team_id=_team(attendance, ctx),
                shift_start=_time(attendance, "timeslot.start_date"),
                shift_end=_time(attendance, "timeslot.end_date"),
            )
        )
    sms = optional(attendance, "person.sms_opt_in_status", str)
    if sms in SMS_SIGNALS:
        kind = SMS_SIGNALS[sms]
        items.append(
            person_signal(
                ctx,
                source_event_id=f"{person['vendor_id']}:sms:{kind}",
                occurred_at=status_at,
                kind=kind,
                raw=f"sms_opt_in_status {sms}",
                person=person,
                channel="text",
            )
        )
    return items


def parse_export(text: str) -> Iterator[Any]:
    """The attendances of a saved Mobilize API export, in file order: one page as the API
    returns it (``{"count", "next", "previous", "data": [...]}``), a JSON array of pages or of
    attendances, or JSON Lines of pages or attendances (one per line). A PayloadError names
    the line or the part that is none of these."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise PayloadError("(file)", f"is not JSON: {exc.msg} at line {exc.lineno}") from None
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as err:
                raise PayloadError(f"line {n}", f"is not JSON: {err.msg}") from None
            yield from attendances([item])
        return
    yield from attendances(document)


def attendances(document: Any) -> Iterator[Any]:
    """The attendances of one parsed export document (see :func:`parse_export`)."""
    if isinstance(document, dict):
        data = document.get("data")
        if not isinstance(data, list):
            raise PayloadError("data", "is missing: a Mobilize page has a data array")
        for item in data:
            yield item
        return
    if isinstance(document, list):
        for i, item in enumerate(document):
            if isinstance(item, dict) and "data" in item:
                yield from attendances(item)
            elif isinstance(item, dict):
                yield item
            else:
                raise PayloadError(f"[{i}]", "must be an attendance or a page of attendances")
        return
    raise PayloadError("(file)", "must be a Mobilize page, or an array of pages or attendances")


def _person(attendance: dict[str, Any]) -> dict[str, str]:
    user_id = optional(attendance, "person.user_id", int)
    if user_id is not None:
        return {"vendor_id": f"mobilize-user:{user_id}"}
    return {"vendor_id": f"mobilize:{require(attendance, 'person.id', int)}"}


def _event_ref(attendance: dict[str, Any]) -> str | None:
    event_id = optional(attendance, "event.id", int)
    return f"mobilize-event:{event_id}" if event_id is not None else None


def _team(attendance: dict[str, Any], ctx: AdapterContext) -> str | None:
    if ctx.options.get("team") == "none":
        return None
    return optional(attendance, "sponsor.slug", str) or optional(
        attendance, "event.sponsor.slug", str
    )


def _time(attendance: dict[str, Any], path: str) -> str | None:
    value = optional(attendance, path, int)
    return None if value is None else timestamp(value, path)


def _json(value: bool | None) -> str:
    return "null" if value is None else str(value).lower()
