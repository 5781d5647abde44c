"""CallHub webhooks -> canonical events (fixtures from CallHub's docs and a real capture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from producers.tools.base import AdapterContext, PayloadError, Unmapped
from producers.tools.callhub import adapter as callhub
from schemas.jsonconv import ContactJson

DATA = Path(__file__).parent.parent / "data" / "callhub"
CONV = ContactJson()
OPTIONS: dict[str, Any] = {"time_field": "call_time"}
CTX = AdapterContext("callhub-1", "org-a", "callhub", options=OPTIONS)
WHEN = "2026-10-03T17:04:05Z"


def load(name: str, **extra: Any) -> dict[str, Any]:
    """A fixture, with the custom contact fields / merge fields ``extra`` added to its data."""
    payload: dict[str, Any] = json.loads((DATA / name).read_text())
    if "hook" not in payload:  # the workflow body is the data alone
        payload = {"hook": {"id": 1, "event": "cc.notes", "target": "x"}, "data": payload}
    payload["data"].update(extra)
    return payload


def call(**extra: Any) -> dict[str, Any]:
    return load("cc_notes.json", **({"van_id": "101", "call_time": WHEN} | extra))


def one(payload: Any, ctx: AdapterContext = CTX) -> dict[str, Any]:
    [event] = callhub.adapt(payload, ctx)
    assert isinstance(event, dict)
    record, problems = CONV.convert(event, 1_800_000_000_000)
    assert problems == []
    assert record is not None
    return event


def test_call_with_survey_and_no_disposition_is_canvassed() -> None:
    event = one(call())
    assert event["channel"] == "phone"
    assert event["result"] == "canvassed"
    assert event["responses"] == [{"question_id": "Received ballot", "answer": "Yes"}]
    assert event["person"] == {"van_id": "101"}
    assert event["campaign_id"] == "test"
    assert event["canvasser_id"] == "2081644762628097800"
    assert event["occurred_at"] == "2026-10-03T17:04:05+00:00"
    assert event["source_event_id"].startswith("cc.notes:")


def test_retry_gives_the_same_source_event_id_and_another_call_another() -> None:
    assert one(call())["source_event_id"] == one(call())["source_event_id"]
    assert (
        one(call())["source_event_id"]
        != one(call(call_time="2026-10-03T17:09:00Z"))["source_event_id"]
    )


@pytest.mark.parametrize(("disposition", "result"), sorted(callhub.RESULT_MAP.items()))
def test_every_default_disposition(disposition: str, result: str) -> None:
    event = one(call(disposition=disposition))
    assert event["result"] == result
    assert event["result_raw"] == disposition
    assert event["opt_out"] is (result == "do_not_call")
    assert ("responses" in event) is (result == "canvassed")


def test_custom_disposition_is_unmapped_until_configured() -> None:
    payload = load("cc_notes_workflow.json", van_id="7", call_time=WHEN)
    [item] = callhub.adapt(payload, CTX)
    assert isinstance(item, Unmapped)
    assert item.reason_code == "unknown_result_code"
    assert "MEANINGFUL_INTERACTION" in item.reason
    assert "John" not in item.reason and "16507868628" not in item.reason
    ctx = AdapterContext(
        "callhub-1",
        "org-a",
        "callhub",
        options=OPTIONS
        | {
            "dispositions": {"MEANINGFUL_INTERACTION": "canvassed"},
            "support_levels": {"You like A or B?": {"A": 1}},
        },
    )
    event = one(payload, ctx)
    assert event["result"] == "canvassed"
    assert event["responses"] == [
        {"question_id": "You like A or B?", "answer": "A", "support_level": 1},
        {"question_id": "What is your text?", "answer": "My Text"},
        {"question_id": "Your age?", "answer": "32"},
    ]


def test_no_disposition_and_no_survey_is_unmapped() -> None:
    [item] = callhub.adapt(call(surveys=[]), CTX)
    assert isinstance(item, Unmapped)
    assert item.reason_code == "unknown_result_code"


def test_voter_id_field_with_state() -> None:
    ctx = AdapterContext(
        "callhub-1",
        "org-a",
        "callhub",
        state="pa",
        options=OPTIONS | {"person_fields": {"voter_id": "Section_Name"}},
    )
    event = one(call(Section_Name="PA-123"), ctx)
    assert event["person"] == {"voter_id": "PA-123", "state": "pa"}


def test_voter_id_field_without_state_is_a_config_error() -> None:
    ctx = AdapterContext(
        "callhub-1", "org-a", "callhub", options=OPTIONS | {"person_fields": {"voter_id": "x"}}
    )
    with pytest.raises(ConfigError, match="state"):
        callhub.adapt(call(x="1"), ctx)


def test_no_person_field_is_unmapped_without_personal_data() -> None:
    [item] = callhub.adapt(load("cc_notes.json", call_time=WHEN), CTX)
    assert isinstance(item, Unmapped)
    assert item.reason_code == "no_person_id"
    assert "Fred" not in item.reason and "61468828420" not in item.reason


def test_text_reply_stop_is_do_not_text() -> None:
    event = one(load("sb_reply.json", van_id="5", call_time=WHEN))
    assert (event["channel"], event["result"], event["opt_out"]) == ("text", "do_not_text", True)
    assert event["campaign_id"] == "Fishy Campaign"


def test_text_reply_is_texted() -> None:
    event = one(load("sb_reply.json", van_id="5", call_time=WHEN, content="yes, I will vote"))
    assert (event["result"], event["opt_out"]) == ("texted", False)
    assert set(callhub.SMS_RESULT_MAP.values()) == {"texted", "do_not_text"}


def test_agent_activation_is_ignored_and_unknown_event_unmapped() -> None:
    assert callhub.adapt({"hook": {"event": "agent.activation"}, "data": {}}, CTX) == []
    [item] = callhub.adapt({"hook": {"event": "vb.transfer"}, "data": {"campaign": "c"}}, CTX)
    assert isinstance(item, Unmapped)
    assert item.reason_code == "unknown_event"


def test_missing_time_field_option_is_a_payload_error() -> None:
    ctx = AdapterContext("callhub-1", "org-a", "callhub")
    with pytest.raises(PayloadError, match="time_field"):
        callhub.adapt(call(), ctx)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"data": {}}, "hook"),
        ({"hook": {"event": "cc.notes"}}, "data"),
        ({"hook": {"event": "cc.notes"}, "data": []}, "data"),
    ],
)
def test_malformed_envelope_is_a_payload_error(payload: Any, field: str) -> None:
    with pytest.raises(PayloadError) as err:
        callhub.adapt(payload, CTX)
    assert err.value.field == field


def test_malformed_time_and_surveys_are_payload_errors() -> None:
    with pytest.raises(PayloadError) as err:
        callhub.adapt(call(call_time="yesterday"), CTX)
    assert err.value.field == "data.call_time"
    with pytest.raises(PayloadError) as err:
        callhub.adapt(call(surveys=["Yes"]), CTX)
    assert err.value.field == "data.surveys[0]"
    with pytest.raises(PayloadError) as err:
        callhub.adapt(call(surveys=[{"question": "q", "answer": {"a": 1}}]), CTX)
    assert err.value.field == "data.surveys[0].answer"
