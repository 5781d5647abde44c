"""Spoke zapier-action posts -> canonical events (fixtures from Spoke's own tests)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from producers.tools.base import AdapterContext, PayloadError, Unmapped
from producers.tools.spoke import adapter as spoke
from schemas.jsonconv import ContactJson

DATA = Path(__file__).parent.parent / "data" / "spoke"
CONV = ContactJson()
CTX = AdapterContext(source_id="spoke-1", org_id="org-a", source_system="spoke")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def one(payload: Any, ctx: AdapterContext = CTX) -> dict[str, Any]:
    """The one event ``payload`` gives, checked to convert to a ContactEvent with no problem."""
    [event] = spoke.adapt(payload, ctx)
    assert isinstance(event, dict)
    record, problems = CONV.convert(event, 1_700_000_000_000)
    assert problems == []
    assert record is not None
    return event


def test_question_response_is_canvassed_text() -> None:
    event = one(load("question_response.json"))
    assert event["channel"] == "text"
    assert event["contact_type"] == "p2p_sms"
    assert event["result"] == "canvassed"
    assert event["result_raw"] == "four"
    assert event["responses"] == [{"question_id": "527", "answer": "four"}]
    assert event["person"] == {"van_id": "2"}
    assert event["campaign_id"] == "60"
    assert event["occurred_at"] == "2021-08-14T01:54:49.308000+00:00"
    assert event["opt_out"] is False
    assert event["source_event_id"] == "qr:59845:527:four"


def test_every_result_in_the_map_is_emitted() -> None:
    event = one(load("question_response.json"))
    assert set(spoke.RESULT_MAP.values()) == {event["result"]}


def test_retry_gives_the_same_source_event_id() -> None:
    first = spoke.adapt(load("question_response.json"), CTX)
    again = spoke.adapt(load("question_response.json"), CTX)
    assert first == again


def test_changed_answer_is_a_new_event() -> None:
    payload = load("question_response.json")
    payload["questionResponse"]["value"] = "five"
    payload["previousValue"] = "four"
    event = one(payload)
    assert event["source_event_id"] == "qr:59845:527:five"


def test_source_campaign_wins_and_spoke_campaign_is_the_turf() -> None:
    ctx = AdapterContext("spoke-1", "org-a", "spoke", campaign_id="gotv")
    event = one(load("question_response.json"), ctx)
    assert (event["campaign_id"], event["turf_id"], event["list_id"]) == ("gotv", "60", "93")


def test_support_level_from_options() -> None:
    ctx = AdapterContext(
        "spoke-1", "org-a", "spoke", options={"support_levels": {"527": {"four": 2}}}
    )
    event = one(load("question_response.json"), ctx)
    assert event["responses"][0]["support_level"] == 2


def test_bad_support_level_option_is_a_config_error() -> None:
    ctx = AdapterContext(
        "spoke-1", "org-a", "spoke", options={"support_levels": {"527": {"four": 9}}}
    )
    with pytest.raises(ConfigError, match="support_levels"):
        spoke.adapt(load("question_response.json"), ctx)


def test_external_id_as_voter_id_uses_the_source_state() -> None:
    opts = {"external_id_is": "voter_id"}
    ctx = AdapterContext("spoke-1", "org-a", "spoke", state="PA", options=opts)
    event = one(load("question_response.json"), ctx)
    assert event["person"] == {"voter_id": "2", "state": "PA"}


def test_external_id_as_voter_id_without_state_is_a_config_error() -> None:
    ctx = AdapterContext("spoke-1", "org-a", "spoke", options={"external_id_is": "voter_id"})
    with pytest.raises(ConfigError, match="state"):
        spoke.adapt(load("question_response.json"), ctx)


def test_opted_out_contact_sets_opt_out() -> None:
    payload = load("question_response.json")
    payload["contact"]["is_opted_out"] = True
    event = one(payload)
    assert event["opt_out"] is True


def test_numeric_ids_are_read_as_strings() -> None:
    payload = load("question_response.json")
    payload["questionResponse"]["interactionStepId"] = 527
    payload["contact"]["external_id"] = 2
    event = one(payload)
    assert event["responses"][0]["question_id"] == "527"
    assert event["person"] == {"van_id": "2"}


def test_tag_update_is_unmapped_without_personal_data() -> None:
    [item] = spoke.adapt(load("tag_update.json"), CTX)
    assert isinstance(item, Unmapped)
    assert item.reason_code == "no_person_id"
    assert item.source_event_id == "tags:59848:five|four"
    assert item.campaign_id == "62"
    assert "Claudia" not in item.reason and "riseup" not in item.reason
    assert "62" in item.reason


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("questionResponse", "value"), "questionResponse.value"),
        (("questionResponse", "interactionStepId"), "questionResponse.interactionStepId"),
        (("contact", "external_id"), "contact.external_id"),
        (("contact", "updated_at"), "contact.updated_at"),
        (("contact",), "contact"),
        (("campaign", "id"), "campaign.id"),
    ],
)
def test_missing_field_is_a_payload_error(path: tuple[str, ...], field: str) -> None:
    payload = copy.deepcopy(load("question_response.json"))
    target = payload
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    with pytest.raises(PayloadError) as err:
        spoke.adapt(payload, CTX)
    assert err.value.field == field


def test_empty_external_id_is_a_payload_error() -> None:
    payload = load("question_response.json")
    payload["contact"]["external_id"] = ""
    with pytest.raises(PayloadError) as err:
        spoke.adapt(payload, CTX)
    assert err.value.field == "contact.external_id"


def test_bad_tags_are_a_payload_error() -> None:
    payload = load("tag_update.json")
    payload["tags"] = ["ok", 3]
    with pytest.raises(PayloadError) as err:
        spoke.adapt(payload, CTX)
    assert err.value.field == "tags[1]"


def test_unknown_shape_is_a_payload_error() -> None:
    with pytest.raises(PayloadError) as err:
        spoke.adapt({"hello": 1}, CTX)
    assert err.value.field == "questionResponse"
    with pytest.raises(PayloadError):
        spoke.adapt([1, 2], CTX)


def test_the_texters_assignment_is_the_shift() -> None:
    event = one(load("question_response.json"))
    assert event["shift_id"] == "assignment-93" and event["list_id"] == "93"
