"""PersonSignal and VolunteerShift JSON -> records: the rules, the ids, the shared PersonRef."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.tools.base import AdapterContext, Signal
from producers.tools.records import (
    e164,
    is_consent,
    opt_out_of,
    person_signal,
    volunteer_shift,
    with_opt_outs,
)
from schemas import AvroCodec
from schemas.codec import AVRO_DIR, CONTACT_EVENT
from schemas.recordjson import PERSON_SIGNAL, VOLUNTEER_SHIFT, RecordJson

CTX = AdapterContext("src-1", "org-a", "mobilize", campaign_id="gotv")
SIGNALS = RecordJson(PERSON_SIGNAL)
SHIFTS = RecordJson(VOLUNTEER_SHIFT)
WHEN = "2026-10-03T17:04:05Z"


def _person_ref(full_name: str) -> Any:
    schema = json.loads((AVRO_DIR / f"{full_name}.avsc").read_text())
    [person] = [f for f in schema["fields"] if f["name"] == "person"]
    return person["type"]


@pytest.mark.parametrize("name", [PERSON_SIGNAL, VOLUNTEER_SHIFT])
def test_person_ref_is_the_standards_own(name: str) -> None:
    assert _person_ref(name) == _person_ref(CONTACT_EVENT)


def signal(**changes: Any) -> dict[str, Any]:
    base = person_signal(
        CTX, source_event_id="s1", occurred_at=WHEN, kind="opt_out", raw="STOP",
        person={"van_id": "101"}, channel="text",
    ).record  # fmt: skip
    return base | changes


def shift(**changes: Any) -> dict[str, Any]:
    base = volunteer_shift(
        CTX, source_event_id="198:attended", campaign_id="gotv", shift_id="198",
        person={"vendor_id": "mobilize:57"}, event_type="canvass", status="attended",
        status_raw="CONFIRMED/true", status_at=WHEN, shift_start="2026-10-03T15:00:00Z",
        shift_end="2026-10-03T18:00:00Z",
    ).record  # fmt: skip
    return base | changes


def problems(converter: RecordJson, value: dict[str, Any]) -> list[tuple[str, str]]:
    record, found = converter.convert(value, 1_800_000_000_000)
    assert (record is None) == bool(found)
    return [(p.field, p.problem) for p in found]


def test_a_good_signal_and_shift_get_stable_ids_and_encode() -> None:
    codec = AvroCodec()
    for converter, value in ((SIGNALS, signal()), (SHIFTS, shift())):
        first, found = converter.convert(value, 1_800_000_000_000)
        again, _ = converter.convert(value, 1_800_000_000_001)
        assert found == [] and first is not None and again is not None
        assert first["event_id"] == again["event_id"]
        name, decoded = codec.decode(codec.encode(converter.full_name, first))
        assert name == converter.full_name and str(decoded["event_id"]) == first["event_id"]


def test_a_phone_alone_names_the_person_of_an_opt_out() -> None:
    assert problems(SIGNALS, signal(person={}, phone="+15555550100")) == []
    [(field, why)] = problems(SIGNALS, signal(person={}))
    assert field == "person" and "or phone" in why
    assert problems(SIGNALS, signal(phone="555-0100")) == [
        ("phone", "must be an E.164 number (+ and 8 to 15 digits)")
    ]


def test_consent_needs_a_channel_and_codes_need_a_code() -> None:
    assert problems(SIGNALS, signal(channel=None)) == [("channel", "is required for opt_out")]
    tag = signal(kind="tag_added", channel=None)
    assert problems(SIGNALS, tag) == [("code", "is required for tag_added")]
    assert problems(SIGNALS, tag | {"code": "volunteer"}) == []


def test_the_sender_sets_neither_id_nor_receive_time_and_unknown_fields_are_named() -> None:
    found = problems(SIGNALS, signal(event_id="x", received_at=1, notes="hi"))
    assert {f for f, _ in found} == {"event_id", "received_at", "notes"}


def test_shift_rules() -> None:
    assert problems(SHIFTS, shift(status="flaked"))[0][0] == "status"
    assert problems(SHIFTS, shift(shift_end="2026-10-03T14:00:00Z")) == [
        ("shift_end", "is before shift_start")
    ]
    assert problems(SHIFTS, shift(person={}))[0][0] == "person"
    assert problems(SHIFTS, shift(shift_id=""))[0] == ("shift_id", "must not be empty")


def test_an_opt_out_attempt_also_gives_an_opt_out_signal() -> None:
    contact = {
        "source_system": "van", "source_event_id": "c1", "org_id": "org-a",
        "occurred_at": WHEN, "campaign_id": "gotv", "channel": "phone",
        "result": "do_not_text", "result_raw": "Do Not Text", "person": {"van_id": "101"},
        "opt_out": True,
    }  # fmt: skip
    made = opt_out_of(contact)
    assert made is not None
    assert made.record["channel"] == "text"  # the result names the channel
    assert (made.record["source_system"], made.record["org_id"]) == ("van", "org-a")
    assert made.record["contact_source_event_id"] == "c1"
    assert problems(SIGNALS, made.record) == []
    assert opt_out_of(contact | {"opt_out": False}) is None
    # an adapter's own opt-out on that channel (with the phone) stands; none is derived
    own = person_signal(
        CTX, source_event_id="own", occurred_at=WHEN, kind="opt_out", raw="STOP",
        phone="+15555550100", channel="text",
    )  # fmt: skip
    assert with_opt_outs([contact, own]) == [contact, own]
    [_, derived] = with_opt_outs([contact])
    assert isinstance(derived, Signal) and derived.record == made.record
    assert is_consent(derived) and not is_consent(contact)


@pytest.mark.parametrize(
    ("number", "prefix", "expected"),
    [
        ("5555550100", "1", "+15555550100"),
        ("(555) 555-0100", "1", "+15555550100"),
        ("15555550100", "1", "+15555550100"),
        ("+61468828420", "1", "+61468828420"),
        ("61468828420", None, "+61468828420"),
        ("12", "1", None),
        ("", "1", None),
        (None, "1", None),
        (True, "1", None),
    ],
)
def test_e164(number: Any, prefix: Any, expected: str | None) -> None:
    assert e164(number, prefix) == expected


@given(st.text(max_size=20), st.sampled_from(["1", "44", "", None]))
def test_e164_gives_a_valid_number_or_none(number: str, prefix: str | None) -> None:
    made = e164(number, prefix)
    if made is not None:
        assert problems(SIGNALS, signal(phone=made)) == []
