"""Decoded Avro records -> ClickHouse rows, in a constant column order per table.

Plain functions, no I/O. Timestamps arrive as tz-aware datetimes, event ids as uuid.UUID
(see schemas.codec). Unmatched contacts keep demographics and geography 'unknown'.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.derived import UNKNOWN, age_band, age_of

Record = dict[str, Any]
Row = list[Any]


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
]  # fmt: skip

DEAD_LETTER_COLUMNS = [
    "event_id", "org_id", "source_system", "stage", "reason_code", "reason",
    "source_topic", "source_partition", "source_offset", "failed_at", "original",
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
    ]


def dead_letter_row(dead: Record, at: tuple[str, int, int] | None = None) -> Row:
    """One dead_letters row (DEAD_LETTER_COLUMNS order) from a decoded DeadLetter.

    A letter refused before it had a Kafka position (stage gateway, importers: partition -1)
    is keyed by its own position on the DLQ topic, ``at``, so each stays a row of its own.
    """
    original = dead.get("original") or b""
    topic, partition, offset = dead["source_topic"], dead["source_partition"], dead["source_offset"]
    if (partition < 0 or offset < 0) and at is not None:
        topic, partition, offset = f"{topic}@{at[0]}", at[1], at[2]
    return [
        dead.get("event_id") or "",
        dead.get("org_id") or "",
        dead.get("source_system") or "",
        dead["stage"],
        dead["reason_code"],
        dead["reason"],
        topic,
        int(partition),
        int(offset),
        dead["failed_at"],
        original.decode("utf-8", "backslashreplace")
        if isinstance(original, bytes)
        else str(original),
    ]


def sink_dead_letter_row(
    topic: str, partition: int, offset: int, value: bytes | None, reason_code: str, reason: str
) -> Row:
    """A dead_letters row for a message the sink itself could not read (stage 'sink')."""
    original = (value or b"").decode("utf-8", "backslashreplace")
    return [
        "",
        "",
        "",
        "sink",
        reason_code,
        reason,
        topic,
        partition,
        offset,
        dt.datetime.now(dt.UTC),
        original,
    ]


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
