"""Canonical JSON -> ContactEvent: every problem named with its field."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import CONTACT_EVENT, AvroCodec
from schemas.ids import event_id_for
from schemas.jsonconv import ContactJson

CONV = ContactJson()


def event(**over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "source_system": "tool",
        "source_event_id": "42",
        "org_id": "org-a",
        "campaign_id": "gotv",
        "channel": "door",
        "occurred_at": "2026-11-24T15:04:05Z",
        "person": {"voter_id": "V1", "state": "zz"},
        "result": "canvassed",
        "result_raw": "Canvassed",
        "responses": [{"question_id": "support", "answer": "yes", "support_level": 1}],
    }
    ev.update(over)
    return ev


def problems(ev: Any) -> dict[str, str]:
    record, found = CONV.convert(ev, 1_800_000_000_000)
    assert record is None
    return {p.field: p.problem for p in found}


def test_good_event_becomes_a_record_with_derived_id_and_defaults() -> None:
    record, found = CONV.convert(event(), 1_800_000_000_000)
    assert found == [] and record is not None
    assert record["event_id"] == event_id_for("org-a", "tool", "42")
    assert record["received_at"] == 1_800_000_000_000
    assert record["occurred_at"] == 1_795_532_645_000
    assert record["person"]["state"] == "ZZ"  # normalised
    assert record["contact_type"] == "other" and record["activist_codes"] == []
    _name, back = AvroCodec().decode(AvroCodec().encode(CONTACT_EVENT, record))
    assert back["person"]["voter_id"] == "V1" and back["responses"][0]["support_level"] == 1


def test_epoch_milliseconds_are_accepted() -> None:
    record, _ = CONV.convert(event(occurred_at=1_700_000_000_123), 1_800_000_000_000)
    assert record is not None and record["occurred_at"] == 1_700_000_000_123


def test_every_problem_is_named_at_once() -> None:
    found = problems(
        event(
            channel="pigeon",
            occurred_at="yesterday",
            opt_out="no",
            responses=[{"question_id": 3, "answer": "a", "support_level": 9}],
            color="blue",
        )
    )
    assert "pigeon" in found["channel"] and "door, phone, text" in found["channel"]
    assert "ISO-8601" in found["occurred_at"]
    assert "true or false" in found["opt_out"]
    assert "string" in found["responses[0].question_id"]
    assert "1 (strong support) to 5" in found["responses[0].support_level"]
    assert "not a field" in found["color"]


def test_missing_required_fields() -> None:
    ev = event()
    del ev["org_id"], ev["result"]
    found = problems(ev)
    assert found["org_id"] == "is required" and found["result"] == "is required"


def test_timestamp_without_zone_is_refused() -> None:
    assert "time zone" in problems(event(occurred_at="2026-11-24T15:04:05"))["occurred_at"]


def test_fields_set_by_the_gateway_are_refused() -> None:
    found = problems(event(event_id="abc", received_at=5))
    assert "source_event_id" in found["event_id"] and "received_at" in found


@pytest.mark.parametrize(
    ("person", "field", "text"),
    [
        ({}, "person", "at least one"),
        ({"voter_id": "V1"}, "person.state", "required with voter_id"),
        ({"voter_id": "V1", "state": "Texas"}, "person.state", "two-letter"),
        ({"voter_id": 5, "state": "ZZ"}, "person.voter_id", "string"),
    ],
)
def test_person_rules(person: dict[str, Any], field: str, text: str) -> None:
    assert text in problems(event(person=person))[field]


def test_empty_strings_are_refused_where_an_id_is_needed() -> None:
    assert "empty" in problems(event(source_event_id=""))["source_event_id"]


def test_non_object_event() -> None:
    assert "object" in problems([1, 2])["(event)"]


def test_van_id_alone_identifies_a_person() -> None:
    record, found = CONV.convert(event(person={"van_id": "123"}), 1_800_000_000_000)
    assert found == [] and record is not None and record["person"]["voter_id"] is None
