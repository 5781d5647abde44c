"""Decoded Avro records -> ClickHouse rows, in a constant column order per table.

Plain functions, no I/O. Timestamps arrive as tz-aware datetimes, event ids as uuid.UUID
(see schemas.codec). Unmatched contacts keep demographics and geography 'unknown'.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.deadletter import dead_letter_key, dead_letter_record
from schemas.derived import UNKNOWN, age_band, age_of
from schemas.ids import dedupe_key, event_id_from_key

Record = dict[str, Any]
Row = list[Any]


# the evidence fields of the standard 1.1 (shift, location, call), in evidence_of's order
EVIDENCE_COLUMNS = (
    "shift_id", "location_lat", "location_lon", "location_accuracy_m", "call_duration_s",
    "reached",
)  # fmt: skip

CONTACT_COLUMNS = [
    "event_id", "source_system", "source_event_id", "org_id", "campaign_id", "program_id",
    "channel", "contact_type", "input_method", "occurred_at", "received_at", "enriched_at",
    "state", "voter_id", "van_id", "state_file_id", "vendor_id",
    "canvasser_id", "team_id", "turf_id", "list_id",
    "result", "result_raw", "is_contact", "has_id", "support_level",
    "responses.question_id", "responses.answer", "responses.support_level",
    "activist_codes", "opt_out", "script_completed", "voter_matched",
    "county", "precinct", "congressional_district", "state_senate_district",
    "state_house_district", "age", "age_band", "sex", "race", "race_source",
    "race_probability", "ethnicity", "ethnicity_source", "ethnicity_probability",
    "precinct_lat", "precinct_lon", "tz", "local_day", "import_run",
    *EVIDENCE_COLUMNS,
    "unmapped_responses.question", "unmapped_responses.answer",
    "unmapped_responses.reason_code",
]  # fmt: skip

DEAD_LETTER_COLUMNS = [
    "dead_letter_id", "event_id", "org_id", "source_system", "stage", "reason_code", "reason",
    "source_topic", "source_partition", "source_offset", "first_failed_at", "failed_at",
    "arrivals", "original", "counted",
]  # fmt: skip

VOTER_COLUMNS = [
    "voter_id", "state", "county", "precinct", "congressional_district",
    "state_senate_district", "state_house_district", "birth_year", "age", "age_band",
    "sex", "race", "race_source", "race_probability", "ethnicity", "ethnicity_source",
    "ethnicity_probability", "precinct_lat", "precinct_lon", "updated_at",
]  # fmt: skip

_GEOGRAPHY = (
    "county",
    "precinct",
    "congressional_district",
    "state_senate_district",
    "state_house_district",
)
_DEMOGRAPHICS = ("sex", "race", "race_source", "ethnicity", "ethnicity_source")


def support_level_of(responses: list[Record]) -> int | None:
    """The first non-null support_level among the responses."""
    for r in responses:
        level = r.get("support_level")
        if level is not None:
            return int(level)
    return None


def level(value: Any) -> int | None:
    """A support level as stored (UInt8): None when missing or outside 0-255."""
    return None if value is None or not 0 <= int(value) <= 255 else int(value)


WRITEBACK_COLUMNS = [
    "event_id", "org_id", "source_system", "campaign_id", "state", "attempts", "van_status",
    "error_code", "rejected_by", "received_at", "updated_at", "version",
]  # fmt: skip


def writeback_row(rec: Record) -> Row:
    """One van_writeback row from a decoded WritebackStatus."""
    return [str(rec[c]) if c == "event_id" else rec[c] for c in WRITEBACK_COLUMNS]


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(at: dt.datetime, zone: str) -> dt.date:
    """The day ``at`` falls on in the IANA zone ``zone`` (DST included)."""
    return at.astimezone(_zone(zone)).date()


def contact_row(enriched: Record, zone: str = "UTC") -> Row:
    """One contact_events row (CONTACT_COLUMNS order) from a decoded EnrichedContact, its
    ``local_day`` on the clock of ``zone`` (the sink passes its campaign's zone, sinks/zones.py).
    """
    c = enriched["contact"]
    person = c["person"]
    responses = c.get("responses") or []
    held = c.get("unmapped_responses") or []
    voter = enriched.get("voter") if enriched.get("voter_matched") else None
    support = support_level_of(responses)
    is_contact = c["result"] == "canvassed" or bool(responses)
    has_id = is_contact and support is not None
    sc = c.get("script_completed")
    if voter is not None:
        geo = [voter.get(k) or UNKNOWN for k in _GEOGRAPHY]
        age = age_of(voter)
        demo = [voter.get(k) or UNKNOWN for k in _DEMOGRAPHICS]
        extra = [
            voter.get("race_probability"),
            voter.get("ethnicity_probability"),
            voter.get("precinct_lat"),
            voter.get("precinct_lon"),
        ]
    else:
        geo = [UNKNOWN] * 5
        age = None
        demo = [UNKNOWN] * 5
        extra = [None, None, None, None]
    sex, race, race_source, ethnicity, ethnicity_source = demo
    return [
        str(c["event_id"]),
        c["source_system"],
        c["source_event_id"],
        c["org_id"],
        c["campaign_id"],
        c.get("program_id") or "",
        c["channel"],
        c.get("contact_type") or "other",
        c.get("input_method") or "other",
        c["occurred_at"],
        c["received_at"],
        enriched["enriched_at"],
        person.get("state") or "",
        person.get("voter_id") or "",
        person.get("van_id") or "",
        person.get("state_file_id") or "",
        person.get("vendor_id") or "",
        c.get("canvasser_id") or "",
        c.get("team_id") or "",
        c.get("turf_id") or "",
        c.get("list_id") or "",
        c["result"],
        c.get("result_raw") or "",
        1 if is_contact else 0,
        1 if has_id else 0,
        level(support),
        [r["question_id"] for r in responses],
        [r["answer"] for r in responses],
        [level(r.get("support_level")) for r in responses],
        list(c.get("activist_codes") or []),
        1 if c.get("opt_out") else 0,
        None if sc is None else int(bool(sc)),
        1 if voter is not None else 0,
        *geo,
        age,
        age_band(age),
        sex,
        race,
        race_source,
        extra[0],
        ethnicity,
        ethnicity_source,
        extra[1],
        extra[2],
        extra[3],
        zone,
        local_day(c["occurred_at"], zone),
        c.get("import_run") or "",
        *evidence_of(c),
        [h["question"] for h in held],
        [h["answer"] for h in held],
        [h["reason_code"] for h in held],
    ]


def evidence_of(c: Record) -> list[Any]:
    """The evidence fields of the standard 1.1 (shift, location, call), in column order."""
    location = c.get("location") or {}
    return [
        c.get("shift_id"),
        location.get("lat"),
        location.get("lon"),
        location.get("accuracy_m"),
        c.get("call_duration_s"),
        c.get("reached"),
    ]


_EVENT_ID = CONTACT_COLUMNS.index("event_id")
_HELD = [CONTACT_COLUMNS.index(f"unmapped_responses.{n}") for n in ("question", "answer")]
_HELD_REASON = CONTACT_COLUMNS.index("unmapped_responses.reason_code")


def contact_ledger_key(row: Row) -> str:
    """What the sink's ledger knows a contact_events row by (schemas.ids.dedupe_key): its event
    id, and for a partial contact the answers it holds, so a copy is dropped but the same
    contact filled in by a replay is stored (and replaces the partial row)."""
    held = [
        {"question": q, "answer": a, "reason_code": r}
        for q, a, r in zip(row[_HELD[0]], row[_HELD[1]], row[_HELD_REASON], strict=True)
    ]
    return dedupe_key(str(row[_EVENT_ID]), held)


def dead_letter_row(dead: Record) -> Row:
    """One dead_letters row (DEAD_LETTER_COLUMNS order) from a decoded DeadLetter: one arrival
    of the dead letter ``dead_letter_id`` (records written before the field existed get it
    computed the same way). The original is stored byte for byte (a replay decodes it again;
    read it as text with ``base64Encode(original)`` when it is binary)."""
    original = dead.get("original") or b""
    letter_id = dead.get("dead_letter_id") or dead_letter_key(dead)
    return [
        letter_id,
        dead.get("event_id") or "",
        dead.get("org_id") or "",
        dead.get("source_system") or "",
        dead["stage"],
        dead["reason_code"],
        dead["reason"],
        dead["source_topic"],
        int(dead["source_partition"]),
        int(dead["source_offset"]),
        dead["failed_at"],
        dead["failed_at"],
        1,
        original if isinstance(original, bytes) else str(original).encode(),
        1 if dead.get("counted") else 0,
    ]


def sink_dead_letter_row(
    topic: str,
    partition: int,
    offset: int,
    value: bytes | None,
    reason_code: str,
    reason: str,
    key: bytes | None = None,
) -> Row:
    """A dead_letters row for a message the sink itself could not read (stage 'sink'); its
    event id is the message key when that is one (contacts are keyed by their event id)."""
    letter = dead_letter_record(
        value or b"",
        stage="sink",
        code=reason_code,
        reason=reason,
        where=(topic, partition, offset),
        event_id=event_id_from_key(key),
        org_id=None,
        source_system=None,
        failed_at=dt.datetime.now(dt.UTC),
    )
    return dead_letter_row(letter)


def voter_row(voter: Record) -> Row:
    """One voters row (VOTER_COLUMNS order) from a decoded Voter."""
    age = age_of(voter)
    birth_year = voter.get("birth_year")
    return [
        voter["voter_id"],
        voter["state"],
        *[voter.get(k) or "" for k in _GEOGRAPHY],
        birth_year if birth_year is not None and 0 <= birth_year <= 65535 else None,
        age,
        age_band(age),
        voter.get("sex") or UNKNOWN,
        voter.get("race") or UNKNOWN,
        voter.get("race_source") or UNKNOWN,
        voter.get("race_probability"),
        voter.get("ethnicity") or UNKNOWN,
        voter.get("ethnicity_source") or UNKNOWN,
        voter.get("ethnicity_probability"),
        voter.get("precinct_lat"),
        voter.get("precinct_lon"),
        voter["updated_at"],
    ]
