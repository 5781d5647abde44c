"""One enriched contact -> the SharedContact a partner may see, or None.

Why a pure function: the exchange agent (part 2), the audit and the property tests all call
the same rule, with no Kafka in the way. Why the output is built field by field from the
agreement rather than by deleting what is forbidden: a field the agreement does not name has
no code path into the record, so a new field in the data standard cannot leak by default.

The record never carries phone numbers, emails, names, addresses, notes, our event or person
ids, or tool-specific raw values: SharedContact has no field for them (a test checks the
schema), and the person, canvasser and event appear only as keyed pseudonyms.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.derived import age_band, age_of
from streams.exchange.agreements import Agreement, GeoLevel, Precision
from streams.exchange.pseudonym import (
    KeyRing,
    PersonIdKind,
    PseudonymKey,
    canvasser_pseudonym,
    person_pseudonym,
    shared_event_id,
)

Record = dict[str, Any]

# which voter geography fields each level shares (a level shares the levels that contain it)
GEOGRAPHY: dict[GeoLevel, tuple[str, ...]] = {
    GeoLevel.none: (),
    GeoLevel.state: ("state",),
    GeoLevel.county: ("state", "county"),
    GeoLevel.congressional_district: ("state", "congressional_district"),
    GeoLevel.precinct: ("state", "county", "congressional_district", "precinct"),
}

# each demographic an agreement may name, and the record fields it shares (source with value)
DEMOGRAPHICS: dict[str, tuple[str, ...]] = {
    "age_band": ("age_band",),
    "sex": ("sex",),
    "race": ("race", "race_source"),
    "ethnicity": ("ethnicity", "ethnicity_source"),
}

# present in every shared record whatever the agreement says: how to trace and line it up
STRUCTURAL = frozenset(
    {
        "shared_event_id",
        "partner_id",
        "sharing_org",
        "agreement_id",
        "agreement_version",
        "key_id",
        "shared_at",
        "occurred_at",
        "occurred_precision",
        "person_pseudonym",
        "person_id_kind",
        "geography_level",
    }
)


def as_utc(value: dt.datetime | int) -> dt.datetime:
    """A decoded timestamp-millis (aware datetime) or raw epoch milliseconds, as aware UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC)


def truncate(at: dt.datetime, precision: Precision, zone: str = "UTC") -> dt.datetime:
    """``at`` (aware) cut down to the start of its day, hour or minute in ``zone`` (a field
    program's "today" is local), returned in UTC."""
    local = at.astimezone(zoneinfo.ZoneInfo(zone))
    if precision is Precision.day:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif precision is Precision.hour:
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = local.replace(second=0, microsecond=0)
    return local.astimezone(dt.UTC)


def covers(enriched: Mapping[str, Any], agreement: Agreement, now: dt.datetime) -> bool:
    """Whether ``agreement`` lets this contact go to its partner at ``now``."""
    contact = enriched["contact"]
    org, campaign = contact["org_id"], contact["campaign_id"]
    return (
        agreement.in_force(as_utc(now))
        and agreement.covers(org, campaign)
        and not agreement.firewalled(org, campaign)
    )


def _responses(contact: Mapping[str, Any], agreement: Agreement) -> list[Record]:
    answers = set(agreement.fields.survey_questions)
    levels = set(agreement.fields.support_levels)
    out: list[Record] = []
    for r in contact.get("responses") or []:
        q = r["question_id"]
        answer = r.get("answer") if q in answers else None
        level = r.get("support_level") if q in levels else None
        if answer is not None or level is not None:  # asked-but-nothing-shared says nothing
            out.append({"question_id": q, "answer": answer, "support_level": level})
    return out


def _geography(enriched: Mapping[str, Any], level: GeoLevel) -> Record:
    voter = enriched.get("voter") or {}
    person = enriched["contact"].get("person") or {}
    known = {
        "state": voter.get("state") or person.get("state"),
        "county": voter.get("county"),
        "congressional_district": voter.get("congressional_district"),
        "precinct": voter.get("precinct"),
    }
    if known["state"]:
        known["state"] = str(known["state"]).strip().upper()
    allowed = GEOGRAPHY[level]
    return {name: (value if name in allowed else None) for name, value in known.items()}


def _demographics(enriched: Mapping[str, Any], names: list[str], occurred: dt.datetime) -> Record:
    voter = enriched.get("voter")
    out: Record = {f: None for fields in DEMOGRAPHICS.values() for f in fields}
    if not voter:  # unmatched: demographics unknown, shared as null
        return out
    for name in names:
        for f in DEMOGRAPHICS[name]:
            if f == "age_band":
                out[f] = age_band(age_of(voter, occurred.year))
            else:
                out[f] = voter.get(f) or "unknown"
    return out


@dataclass(frozen=True)
class EventIds:
    """What :func:`share` derives from the event and the key valid when it occurred alone, the
    same under every agreement: computed once per event when it goes to several partners."""

    occurred: dt.datetime  # aware UTC
    key: PseudonymKey
    person: tuple[PersonIdKind, str] | None
    shared_event_id: str


def event_ids(enriched: Mapping[str, Any], keys: KeyRing) -> EventIds:
    """The event's time, key, person pseudonym and shared event id; ConfigError when no key is
    valid when it occurred."""
    contact = enriched["contact"]
    occurred = as_utc(contact["occurred_at"])
    key = keys.key_at(occurred)
    person = person_pseudonym(key, contact.get("person") or {})
    return EventIds(occurred, key, person, shared_event_id(key, str(contact["event_id"])))


def share(
    enriched: Mapping[str, Any],
    agreement: Agreement,
    keys: KeyRing,
    now: dt.datetime,
    ids: EventIds | None = None,
) -> Record | None:
    """The SharedContact (a dict ready for ``AvroCodec.encode(SHARED_CONTACT, ...)``) of an
    EnrichedContact under ``agreement``, or None when the agreement does not cover it (another
    org or campaign, not in force at ``now``, or firewalled from the partner).

    Pseudonyms and the shared event id use the key valid when the contact occurred, so the
    same event always gives the same record but for ``shared_at``; ConfigError when no key is
    valid then. Times are truncated to the agreement's precision, ``shared_at`` too (a
    precise sharing time would give away the contact time of a real-time stream).
    ``ids``: :func:`event_ids` of this event, when the caller has them already.
    """
    now = as_utc(now)
    if not covers(enriched, agreement, now):
        return None
    contact = enriched["contact"]
    rules = agreement.fields
    if ids is None:
        ids = event_ids(enriched, keys)
    occurred, key, person = ids.occurred, ids.key, ids.person
    canvasser = contact.get("canvasser_id")
    allowed_codes = set(rules.activist_codes)
    record: Record = {
        "shared_event_id": ids.shared_event_id,
        "partner_id": agreement.partner,
        "sharing_org": contact["org_id"],
        "agreement_id": agreement.id,
        "agreement_version": agreement.version,
        "key_id": key.id,
        "shared_at": truncate(now, rules.timestamps, rules.timezone),
        "occurred_at": truncate(occurred, rules.timestamps, rules.timezone),
        "occurred_precision": rules.timestamps.value,
        "person_pseudonym": None if person is None else person[1],
        "person_id_kind": None if person is None else person[0].value,
        "channel": contact.get("channel") if rules.channel else None,
        "result": contact.get("result") if rules.result else None,
        "responses": _responses(contact, agreement),
        "activist_codes": [
            code for code in contact.get("activist_codes") or [] if code in allowed_codes
        ],
        "canvasser_pseudonym": (
            canvasser_pseudonym(key, contact["org_id"], canvasser)
            if rules.canvasser and canvasser and canvasser.strip()
            else None
        ),
        "geography_level": rules.geography.value,
        **_geography(enriched, rules.geography),
        **_demographics(enriched, list(rules.demographics), occurred),
    }
    return record
