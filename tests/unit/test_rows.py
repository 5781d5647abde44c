"""sinks.rows: decoded records -> ClickHouse rows (constant column order)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from schemas import DEAD_LETTER, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.deadletter import dead_letter_key
from sinks.rows import (
    CONTACT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    VOTER_COLUMNS,
    age_band,
    age_of,
    contact_row,
    dead_letter_row,
    sink_dead_letter_row,
    voter_row,
)

CODEC = AvroCodec()
NOW = dt.datetime(2026, 11, 3, 15, 0, tzinfo=dt.UTC)
VOTER_REC: dict[str, Any] = {
    "voter_id": "V1",
    "state": "PA",
    "county": "Erie",
    "precinct": "P-7",
    "age": 40,
    "sex": "female",
    "race": "black",
    "race_source": "self_reported",
    "ethnicity": "not_hispanic",
    "ethnicity_source": "self_reported",
    "updated_at": NOW,
}


def enriched(matched: bool = True, **contact: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "source_system": "sim",
        "source_event_id": "e1",
        "org_id": "org-a",
        "campaign_id": "gotv",
        "channel": "door",
        "occurred_at": NOW,
        "received_at": NOW,
        "person": {"voter_id": "V1", "state": "PA"},
        "result": "canvassed",
        "result_raw": "CANV",
        "responses": [
            {"question_id": "q0", "answer": "maybe", "support_level": None},
            {"question_id": "q1", "answer": "yes", "support_level": 2},
        ],
    }
    c.update(contact)
    rec = {
        "contact": c,
        "voter_matched": matched,
        "voter": VOTER_REC if matched else None,
        "enriched_at": NOW,
    }
    return CODEC.decode(CODEC.encode(ENRICHED_CONTACT, rec), expect=ENRICHED_CONTACT)[1]


def as_dict(columns: list[str], row: list[Any]) -> dict[str, Any]:
    assert len(columns) == len(row)
    return dict(zip(columns, row, strict=True))


def test_matched_contact_row() -> None:
    rec = enriched()
    row = as_dict(CONTACT_COLUMNS, contact_row(rec))
    assert row["event_id"] == str(rec["contact"]["event_id"])
    assert row["is_contact"] == 1 and row["has_id"] == 1 and row["support_level"] == 2
    assert row["responses.support_level"] == [None, 2]
    assert row["county"] == "Erie" and row["congressional_district"] == "unknown"
    assert row["age"] == 40 and row["age_band"] == "30-44"
    assert row["race"] == "black" and row["race_source"] == "self_reported"
    assert row["voter_matched"] == 1 and row["program_id"] == ""
    assert row["occurred_at"] == NOW


def test_unmatched_contact_is_unknown_and_not_home_is_no_contact() -> None:
    row = as_dict(
        CONTACT_COLUMNS, contact_row(enriched(matched=False, result="not_home", responses=[]))
    )
    assert row["voter_matched"] == 0
    assert row["is_contact"] == 0 and row["has_id"] == 0 and row["support_level"] is None
    for col in ("county", "precinct", "sex", "race", "ethnicity", "age_band"):
        assert row[col] == "unknown", col
    assert row["age"] is None


def test_age_bands() -> None:
    assert [age_band(a) for a in (None, 17, 18, 29, 30, 44, 45, 64, 65, 99)] == [
        "unknown", "unknown", "18-29", "18-29", "30-44", "30-44", "45-64", "45-64", "65+", "65+",
    ]  # fmt: skip
    assert age_of({"birth_year": 1960}, year=2026) == 66
    assert age_of({"age": 30, "birth_year": 1900}) == 30
    assert age_of({}) is None


def test_voter_row() -> None:
    rec = CODEC.decode(CODEC.encode(VOTER, {**VOTER_REC, "age": None, "birth_year": 2000}))[1]
    row = as_dict(VOTER_COLUMNS, voter_row(rec))
    assert row["county"] == "Erie" and row["state_house_district"] == ""
    assert row["birth_year"] == 2000 and row["age_band"] == "18-29"


def test_dead_letter_rows() -> None:
    dead = {
        "original": b"\x00bad",
        "reason": "unknown campaign",
        "reason_code": "unknown_campaign",
        "stage": "validate",
        "event_id": None,
        "org_id": "org-a",
        "source_system": None,
        "source_topic": "contacts.raw",
        "source_partition": 1,
        "source_offset": 42,
        "failed_at": NOW,
    }
    rec = CODEC.decode(CODEC.encode(DEAD_LETTER, dead))[1]
    row = as_dict(DEAD_LETTER_COLUMNS, dead_letter_row(rec))
    assert row["event_id"] == "" and row["source_offset"] == 42 and row["stage"] == "validate"
    assert row["arrivals"] == 1 and row["first_failed_at"] == row["failed_at"] == NOW
    # a record from before dead_letter_id existed gets it computed: the same bytes, the same id
    assert row["dead_letter_id"] == dead_letter_key(rec)
    assert row["dead_letter_id"].startswith("validate:sha256:")
    # where it was read does not change what it is (a broker restart must replace nothing)
    moved = CODEC.decode(CODEC.encode(DEAD_LETTER, dict(dead, source_offset=7)))[1]
    assert dead_letter_row(moved)[0] == row["dead_letter_id"]
    known = CODEC.decode(CODEC.encode(DEAD_LETTER, dict(dead, event_id="e-1")))[1]
    assert dead_letter_row(known)[0] == "validate:e-1"
    # kept byte for byte (a replay decodes it again), and not counted unless it says so
    assert row["original"] == b"\x00bad" and row["counted"] == 0
    gateway = dict(dead, stage="gateway", source_topic="gateway:van-1")
    gateway |= {"source_partition": -1, "source_offset": -1}
    rec = CODEC.decode(CODEC.encode(DEAD_LETTER, gateway))[1]
    row = as_dict(DEAD_LETTER_COLUMNS, dead_letter_row(rec))
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == (
        "gateway:van-1",
        -1,
        -1,
    )
    own = as_dict(DEAD_LETTER_COLUMNS, sink_dead_letter_row("t", 0, 7, b"junk", "x", "why"))
    assert own["stage"] == "sink" and own["original"] == b"junk" and own["source_offset"] == 7
