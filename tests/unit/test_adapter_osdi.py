"""OSDI canvasses and the record-canvass helper (fixtures: the spec's own examples and NGP
VAN's bridge; tests/data/osdi/SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from producers.tools.base import AdapterContext, PayloadError, Signal, Unmapped
from producers.tools.osdi import adapter as osdi
from schemas.jsonconv import ContactJson
from schemas.recordjson import PERSON_SIGNAL, RecordJson

DATA = Path(__file__).parent.parent / "data" / "osdi"
PERSON = "c945d6fe-929e-11e3-a2e9-12313d316c29"  # the spec's target
CONTACTS = ContactJson()
SIGNALS = RecordJson(PERSON_SIGNAL)
NOW_MS = 1_800_000_000_000
WHEN = "2014-03-18T11:02:15Z"


def ctx(**options: Any) -> AdapterContext:
    return AdapterContext(
        "osdi-1",
        "org-a",
        "osdi",
        campaign_id="gotv",
        options={"person_id_is": "vendor_id"} | options,
    )


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


def split(items: list[Any]) -> tuple[Any, list[dict[str, Any]]]:
    """(the attempt, checked against the standard, or its Unmapped; the signals, checked)."""
    [attempt] = [i for i in items if not isinstance(i, Signal)]
    if isinstance(attempt, dict):
        record, problems = CONTACTS.convert(attempt, NOW_MS)
        assert problems == [], problems
        assert record is not None
    signals = []
    for item in items:
        if isinstance(item, Signal):
            record, problems = SIGNALS.convert(item.record, NOW_MS)
            assert problems == [] and record is not None, problems
            signals.append(record)
    return attempt, signals


def test_the_specs_record_canvass_helper() -> None:
    attempt, signals = split(
        osdi.adapt_helper(load("record_canvass_helper.json"), ctx(), person_id=PERSON)
    )
    assert attempt["channel"] == "door" and attempt["contact_type"] == "walk"
    assert attempt["result"] == "canvassed" and attempt["result_raw"] == "success"
    assert attempt["input_method"] == "mobile_app"
    assert attempt["occurred_at"] == "2014-03-18T11:02:15+00:00"
    assert attempt["person"] == {"vendor_id": PERSON}
    assert attempt["responses"] == [
        {"question_id": "c945d6fe-929e-11e3-a2e9-12313d316c29", "answer": "r1"},
        {"question_id": "c945d6fe-929e-11e3-a2e9-12313d316c29", "answer": "r2"},
        {
            "question_id": "c945d6fe-929e-11e3-a2e9-12313d316c2a",
            "answer": "Heard about the candidate at the Labor Day Picnic",
        },
    ]
    assert "activist_codes" not in attempt  # tags are signals, not part of the attempt
    assert [(s["kind"], s["code"]) for s in signals] == [
        ("tag_added", "volunteer"),
        ("tag_added", "donor"),
        ("tag_added", "d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0bc3"),
    ]
    assert {s["contact_source_event_id"] for s in signals} == {attempt["source_event_id"]}
    assert all(s["person"]["vendor_id"] == PERSON for s in signals)


def test_the_field_organizing_profiles_helper_names_the_canvasser() -> None:
    attempt, _ = split(
        osdi.adapt_helper(load("record_canvass_helper_profile.json"), ctx(), person_id=PERSON)
    )
    assert attempt["canvasser_id"] == "c945d6fe-929e-11e3-a2e9-12313d316444"


def test_the_specs_canvass_post_with_its_people_and_effort_links() -> None:
    attempt, signals = split(osdi.adapt_canvass(load("canvass_post.json"), ctx(), person_id=PERSON))
    assert attempt["source_event_id"] == "foreign_system:1"
    assert attempt["canvasser_id"] == "c945d6fe-929e-11e3-a2e9-12313d316444"
    assert attempt["program_id"] == "d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0baa"
    assert attempt["result"] == "canvassed" and signals == []


def test_a_not_home_canvass_posted_to_an_effort_finds_its_target_link() -> None:
    attempt, _ = split(
        osdi.adapt_canvass(load("canvass_not_home.json"), ctx(), effort_id="effort-9")
    )
    assert attempt["person"] == {"vendor_id": PERSON}  # from _links.osdi:target
    assert (attempt["result"], attempt["result_raw"]) == ("not_home", "not-home")
    assert attempt["program_id"] == "effort-9"
    assert attempt["shift_id"] == "effort-9"  # the standard 1.1's shift: the effort
    assert attempt["source_event_id"] == "osdi_sample_system:d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0bc3"


def test_a_phone_call_on_paper() -> None:
    attempt, _ = split(osdi.adapt_canvass(load("canvass_phone_call.json"), ctx()))
    assert (attempt["channel"], attempt["input_method"]) == ("phone", "paper")


def test_ngp_vans_dialect_with_the_sources_maps() -> None:
    options = {
        "person_id_is": "van_id",
        "tags_are": "activist_codes",
        "questions": {"109149": {"responses": {"465468": {"answer": "Strong Support",
                                                           "support_level": 1}}}},
    }  # fmt: skip
    attempt, signals = split(
        osdi.adapt_helper(load("van_osdi_helper.json"), ctx(**options), person_id="8675309")
    )
    assert attempt["person"] == {"van_id": "8675309"}
    assert attempt["channel"] == "door"
    assert attempt["responses"] == [
        {"question_id": "109149", "answer": "Strong Support", "support_level": 1}
    ]
    assert [(s["kind"], s["code"]) for s in signals] == [("activist_code_applied", "18917")]


def test_vans_numeric_status_code_is_held_until_mapped() -> None:
    body = load("van_osdi_not_home.json")
    [held] = osdi.adapt_helper(body, ctx(person_id_is="van_id"), person_id="8675309")
    assert isinstance(held, Unmapped)
    assert held.reason_code == "unknown_result_code"
    assert "'1'" in held.reason and "status_codes" in held.reason
    mapped = ctx(person_id_is="van_id", status_codes={"1": "not_home"})
    attempt, _ = split(osdi.adapt_helper(body, mapped, person_id="8675309"))
    assert (attempt["channel"], attempt["result"]) == ("phone", "not_home")


def test_an_unknown_contact_type_is_held_and_the_tags_still_kept() -> None:
    body = load("record_canvass_helper.json")
    body["canvass"]["contact_type"] = "SMS Text"
    items = osdi.adapt_helper(body, ctx(), person_id=PERSON)
    held, signals = split(items)
    assert isinstance(held, Unmapped) and held.reason_code == "unknown_contact_type"
    assert len(signals) == 3
    attempt, _ = split(osdi.adapt_helper(body, ctx(contact_types={"SMS Text": "text"}),
                                         person_id=PERSON))  # fmt: skip
    assert (attempt["channel"], attempt["contact_type"]) == ("text", "sms")


def test_failure_without_a_status_is_held_not_guessed() -> None:
    body = load("canvass_post.json") | {"success": False}
    [held] = osdi.adapt_canvass(body, ctx(), person_id=PERSON)
    assert isinstance(held, Unmapped) and held.reason_code == "unknown_result_code"


def test_a_helper_retry_keeps_its_id_and_another_person_gets_another() -> None:
    body = load("record_canvass_helper.json")
    first, _ = split(osdi.adapt_helper(body, ctx(), person_id=PERSON))
    again, _ = split(osdi.adapt_helper(body, ctx(), person_id=PERSON))
    other, _ = split(osdi.adapt_helper(body, ctx(), person_id="someone-else"))
    assert first["source_event_id"] == again["source_event_id"]
    assert first["source_event_id"] != other["source_event_id"]


def test_a_missing_action_date_takes_the_receive_time() -> None:
    body = load("canvass_post.json")
    del body["action_date"]
    received = "2026-10-03T17:04:05+00:00"
    attempt, _ = split(osdi.adapt_canvass(body, ctx(), person_id=PERSON, received_at=received))
    assert attempt["occurred_at"] == received
    with pytest.raises(PayloadError, match="action_date"):
        osdi.adapt_canvass(body, ctx(), person_id=PERSON)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"canvass": None}, "canvass"),
        ({"canvass": {"action_date": "soon", "contact_type": "walk"}}, "canvass.action_date"),
        ({"add_tags": "volunteer"}, "add_tags"),
        ({"add_questions_responses_uri": [{"responses": ["r1"]}]},
         "add_questions_responses_uri[0].question"),
        ({"add_answers": [{"question": "q", "responses": "r1"}]}, "add_answers[0].responses"),
        ({"canvass": {"action_date": WHEN, "contact_type": "walk", "success": "yes"}},
         "canvass.success"),
        ({"canvass": {"action_date": WHEN, "contact_type": "walk", "status_code": "not-home"},
          "add_answers": [{"question": "q", "responses": ["r"]}]}, "canvass.status_code"),
    ],
)  # fmt: skip
def test_a_helper_that_is_not_what_osdi_says_names_the_field(
    change: dict[str, Any], field: str
) -> None:
    body = load("record_canvass_helper.json") | change
    with pytest.raises(PayloadError) as err:
        osdi.adapt_helper(body, ctx(), person_id=PERSON)
    assert err.value.field == field


def test_a_helper_body_posted_as_a_canvass_says_where_it_belongs() -> None:
    with pytest.raises(PayloadError, match="record_canvass_helper"):
        osdi.adapt_canvass(load("record_canvass_helper.json"), ctx(), person_id=PERSON)
    with pytest.raises(PayloadError, match="osdi:target"):
        osdi.adapt_canvass(load("canvass_post.json"), ctx())


def test_a_van_id_must_be_a_number_and_bad_options_are_config_errors() -> None:
    body = load("record_canvass_helper.json")
    with pytest.raises(PayloadError, match="person_id_is"):
        osdi.adapt_helper(body, ctx(person_id_is="van_id"), person_id=PERSON)
    with pytest.raises(ConfigError, match="status_codes"):
        osdi.adapt_helper(body, ctx(status_codes={"x": "maybe"}), person_id=PERSON)
    with pytest.raises(ConfigError, match="contact_types"):
        osdi.adapt_helper(body, ctx(contact_types={"x": "carrier pigeon"}), person_id=PERSON)


@given(
    status=st.sampled_from(["", "success", "not-home", "other", "1"]),
    success=st.none() | st.booleans(),
    contact_type=st.sampled_from(["in-person", "phoneCall", "walk", "phone", "fax", ""]),
)
def test_every_combination_is_an_attempt_a_hold_or_a_named_refusal(
    status: str, success: bool | None, contact_type: str
) -> None:
    body = load("canvass_post.json") | {
        "status_code": status,
        "success": success,
        "contact_type": contact_type,
    }
    try:
        items = osdi.adapt_canvass(body, ctx(), person_id=PERSON)
    except PayloadError as exc:
        assert exc.field == "success"
        return
    attempt, _ = split(items)
    if isinstance(attempt, dict):
        assert attempt["result"] in ("canvassed", "not_home")
        assert not (success is False and attempt["result"] == "canvassed")
