"""The VAN-compatible adapter on real client bodies (tests/data/van/SOURCES.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from producers.tools.base import AdapterContext, PayloadError, Unmapped
from producers.tools.van.adapter import RESULT_MAP, adapt
from schemas.jsonconv import ContactJson
from schemas.van_codes import load_codes

DATA = Path(__file__).resolve().parents[1] / "data" / "van"
CODES = load_codes(DATA / "codes_committee.yaml")
CONVERTER = ContactJson()
RECEIVED_MS = 1_700_000_000_000


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return loaded


def ctx(**options: Any) -> AdapterContext:
    return AdapterContext(
        source_id="van-sync",
        org_id="org1",
        source_system="van",
        campaign_id="gotv",
        state="nc",
        options={"codes": CODES, **options},
    )


def one_event(items: list[Any]) -> dict[str, Any]:
    assert len(items) == 1 and isinstance(items[0], dict), items
    event: dict[str, Any] = items[0]
    record, problems = CONVERTER.convert(event, RECEIVED_MS)
    assert problems == [] and record is not None
    return event


def test_spoke_rewired_responses_become_a_canvassed_text_event() -> None:
    event = one_event(
        adapt(body("spoke_rewired_responses"), ctx(), id_type="vanid", person_id="8675309")
    )
    assert event["channel"] == "text" and event["contact_type"] == "sms"
    assert event["result"] == "canvassed" and event["result_raw"] == "Canvassed"
    assert event["input_method"] == "api"  # absent inputTypeId is VAN's default 11
    assert event["occurred_at"] == "2020-10-01T00:00:00+00:00"
    assert event["person"] == {"van_id": "8675309"}
    assert event["campaign_id"] == "gotv"
    assert event["responses"] == [
        {"question_id": "2020VotePPE", "answer": "Yes - Early", "support_level": 1}
    ]
    assert event["activist_codes"] == ["EdayIssue-PollWorker"]
    assert "5555550100" not in json.dumps(event)


def test_parsons_response_with_offset_and_unnamed_codes() -> None:
    event = one_event(
        adapt(body("parsons_apply_response"), ctx(), id_type="vanid", person_id="5222")
    )
    assert event["channel"] == "phone" and event["contact_type"] == "phone"
    assert event["occurred_at"] == "2020-10-01T22:30:00+00:00"
    # a question without a name keeps VAN's id; an activist code without a name its id
    assert event["responses"] == [
        {"question_id": "109149", "answer": "Strong Support", "support_level": 1}
    ]
    assert event["activist_codes"] == ["18917"]


def test_parsons_result_code_date_only_in_source_timezone() -> None:
    items = adapt(
        body("parsons_apply_canvass_result"),
        ctx(timezone="America/New_York"),
        id_type="vanid",
        person_id="5222",
    )
    event = one_event(items)
    assert (event["channel"], event["contact_type"]) == ("door", "walk")
    assert event["result"] == "not_home" and event["result_raw"] == "Not Home"
    assert event["occurred_at"] == "2020-10-01T04:00:00+00:00"
    assert event["responses"] == [] and event["activist_codes"] == []


def test_opt_out_result_code() -> None:
    event = one_event(adapt(body("spoke_rewired_opt_out"), ctx(), id_type="vanid", person_id="1"))
    assert event["result"] == "do_not_text" and event["opt_out"] is True


@pytest.mark.parametrize("code", sorted(RESULT_MAP))
def test_every_default_result_code(code: int) -> None:
    payload = body("parsons_apply_canvass_result")
    payload["resultCodeId"] = code
    event = one_event(adapt(payload, ctx(), id_type="vanid", person_id="5222"))
    assert event["result"] == RESULT_MAP[code]


def test_state_file_id_and_vendor_ids() -> None:
    payload = body("parsons_apply_canvass_result")
    event = one_event(adapt(payload, ctx(), id_type="stateFileId", person_id="BN123"))
    assert event["person"] == {"state_file_id": "BN123", "voter_id": "BN123", "state": "NC"}
    event = one_event(adapt(payload, ctx(), id_type="DWID", person_id="77"))
    assert event["person"] == {"vendor_id": "77"}


def test_retried_body_keeps_its_event_id_and_changes_change_it() -> None:
    payload = body("spoke_rewired_responses")
    first = one_event(adapt(payload, ctx(), id_type="vanid", person_id="8"))
    reordered = copy.deepcopy(payload)
    reordered["responses"].reverse()
    again = one_event(adapt(reordered, ctx(), id_type="vanid", person_id="8"))
    assert first["source_event_id"] == again["source_event_id"]
    other = one_event(adapt(payload, ctx(), id_type="vanid", person_id="9"))
    assert other["source_event_id"] != first["source_event_id"]


def test_activist_codes_without_contact_history_are_no_contact() -> None:
    assert adapt(body("parsons_activist_code_only"), ctx(), id_type="vanid", person_id="1") == []


def test_unknown_input_type_is_other() -> None:
    payload = body("parsons_apply_response")
    payload["canvassContext"]["inputTypeId"] = 999
    assert (
        one_event(adapt(payload, ctx(), id_type="vanid", person_id="1"))["input_method"] == "other"
    )


@pytest.mark.parametrize(
    ("change", "reason_code", "named"),
    [
        ({"resultCodeId": 99}, "unknown_result_code", "resultCodeId 99"),
        ({"canvassContext.contactTypeId": 79}, "unknown_contact_type", "contactTypeId 79"),
        ({"canvassContext.contactTypeId": None}, "missing_contact_type", "contactTypeId"),
    ],
)
def test_unknown_codes_are_unmapped(change: dict[str, Any], reason_code: str, named: str) -> None:
    payload = body("parsons_apply_canvass_result")
    for key, value in change.items():
        if key.startswith("canvassContext."):
            payload["canvassContext"][key.split(".")[1]] = value
        else:
            payload[key] = value
    [item] = adapt(payload, ctx(), id_type="vanid", person_id="5222")
    assert isinstance(item, Unmapped)
    assert item.reason_code == reason_code and named in item.reason
    assert "'van-sync'" in item.reason and "5222" not in item.reason
    assert item.campaign_id == "gotv" and item.source_event_id


def test_unknown_survey_codes_named_together_in_one_item() -> None:
    payload = body("spoke_rewired_responses")
    payload["responses"] = [
        {"type": "SurveyResponse", "surveyQuestionId": 1, "surveyResponseId": 2},
        {"type": "SurveyResponse", "surveyQuestionId": 378552, "surveyResponseId": 3},
    ]
    [item] = adapt(payload, ctx(), id_type="vanid", person_id="1")
    assert isinstance(item, Unmapped) and item.reason_code == "unknown_survey_question"
    assert "surveyQuestionId 1 " in item.reason and "surveyResponseId" in item.reason
    assert "codes_committee.yaml" in item.reason


def test_default_contact_type_fills_a_missing_one(tmp_path: Path) -> None:
    codes_file = tmp_path / "codes.yaml"
    codes_file.write_text("default_contact_type_id: 2\n")
    payload = body("parsons_apply_canvass_result")
    payload["canvassContext"]["contactTypeId"] = None
    items = adapt(payload, ctx(codes=load_codes(codes_file)), id_type="vanid", person_id="1")
    assert one_event(items)["channel"] == "door"


@pytest.mark.parametrize(
    ("name", "mutate", "field"),
    [
        ("spoke_classic_result", None, "canvassContext.dateCanvassed"),
        ("parsons_apply_canvass_result", ("resultCodeId", None), "resultCodeId"),
        ("parsons_apply_canvass_result", ("resultCodeId", "abc"), "resultCodeId"),
        ("parsons_apply_canvass_result", ("canvassContext", []), "canvassContext"),
        ("spoke_rewired_responses", ("resultCodeId", 1), "resultCodeId"),
        ("spoke_rewired_responses", ("responses", [{"type": "Note"}]), "responses[0].type"),
        (
            "spoke_rewired_responses",
            ("responses", [{"type": "SurveyResponse", "surveyQuestionId": 1}]),
            "responses[0].surveyResponseId",
        ),
        (
            "spoke_rewired_responses",
            ("responses", [{"type": "ActivistCode", "activistCodeId": 1, "action": "Toggle"}]),
            "responses[0].action",
        ),
    ],
)
def test_malformed_bodies_name_the_field(
    name: str, mutate: tuple[str, Any] | None, field: str
) -> None:
    payload = body(name)
    if mutate:
        payload[mutate[0]] = mutate[1]
    with pytest.raises(PayloadError) as caught:
        adapt(payload, ctx(), id_type="vanid", person_id="1")
    assert caught.value.field == field


def test_bad_person_ids() -> None:
    payload = body("parsons_apply_canvass_result")
    with pytest.raises(PayloadError, match="personIdType"):
        adapt(payload, ctx(), id_type="email", person_id="a@b.c")
    with pytest.raises(PayloadError, match="vanId"):
        adapt(payload, ctx(), id_type="vanid", person_id="12a")


def test_bad_timezone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="timezone"):
        adapt(
            body("parsons_apply_canvass_result"),
            ctx(timezone="Mars/Base"),
            id_type="vanid",
            person_id="1",
        )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("result_codes:\n  7: {name: X, result: maybe}\n", "result_codes.7.result"),
        ("contact_types:\n  x: {name: X, channel: door, contact_type: walk}\n", "contact_types.x"),
        ("survey_questions:\n  1:\n    responses:\n      2: {answer: No}\n", "responses.2.answer"),
        (
            "survey_questions:\n  1:\n    responses:\n      2: {answer: A, support_level: 9}\n",
            "support_level",
        ),
        ("result_code:\n  1: {name: X, result: refused}\n", "result_code"),
        ("default_contact_type_id: 99\n", "default_contact_type_id"),
    ],
)
def test_malformed_codes_file_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "codes.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_codes(path)


def test_source_file_merges_over_defaults_and_describes(tmp_path: Path) -> None:
    path = tmp_path / "codes.yaml"
    path.write_text(
        "result_codes:\n  1: {name: Nobody Home, result: not_home}\n"
        "  19: {name: Left Message, result: left_message}\n"
    )
    codes = load_codes(path)
    assert codes.result_codes[19].result == "left_message"
    assert codes.result_codes[1].name == "Nobody Home" and 14 in codes.result_codes
    described = codes.describe()
    assert described["result_codes"]["19"] == {
        "name": "Left Message",
        "result": "left_message",
        "opt_out": False,
    }
    assert described["contact_types"]["37"]["channel"] == "text"


@pytest.mark.parametrize(("code", "channel"), [(18, "phone"), (21, "door"), (130, "text")])
def test_without_a_contact_type_a_result_that_fits_one_channel_gives_it(
    code: int, channel: str
) -> None:
    payload = body("parsons_apply_canvass_result")
    payload["canvassContext"]["contactTypeId"] = None
    payload["resultCodeId"] = code
    event = one_event(adapt(payload, ctx(), id_type="vanid", person_id="5222"))
    assert (event["channel"], event["contact_type"]) == (channel, "other")


def test_without_a_contact_type_responses_alone_are_not_guessed() -> None:
    payload = body("spoke_rewired_responses")
    payload["canvassContext"].pop("contactTypeId")
    codes = load_codes(DATA / "codes_committee.yaml")
    [item] = adapt(payload, ctx(codes=codes), id_type="vanid", person_id="1")
    assert isinstance(item, Unmapped) and item.reason_code == "missing_contact_type"
