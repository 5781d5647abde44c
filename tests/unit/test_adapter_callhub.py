"""CallHub webhooks -> canonical events (fixtures from CallHub's docs and a real capture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from producers.tools.base import AdapterContext, PayloadError, Signal, Unmapped
from producers.tools.callhub import adapter as callhub
from schemas.jsonconv import ContactJson
from schemas.recordjson import PERSON_SIGNAL, RecordJson

DATA = Path(__file__).parent.parent / "data" / "callhub"
CONV = ContactJson()
SIGNALS = RecordJson(PERSON_SIGNAL)
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
    [event] = [i for i in callhub.adapt(payload, ctx) if not isinstance(i, Signal)]
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


def signal(items: list[Any]) -> dict[str, Any]:
    """The one item, a person signal, checked against the standard."""
    [item] = items
    assert isinstance(item, Signal)
    record, problems = SIGNALS.convert(item.record, 1_800_000_000_000)
    assert problems == [] and record is not None, problems
    return record


def test_a_stop_reply_is_an_opt_out_signal_not_an_attempt() -> None:
    found = signal(callhub.adapt(load("sb_reply.json", van_id="5", call_time=WHEN), CTX))
    assert (found["kind"], found["channel"]) == ("opt_out", "text")
    assert found["phone"] == "+16507868629"
    assert found["person"]["van_id"] == "5"
    assert found["campaign_id"] == "Fishy Campaign"


def test_a_stop_reply_without_a_person_id_still_records_the_number() -> None:
    found = signal(callhub.adapt(load("sb_reply.json", call_time=WHEN), CTX))
    assert found["kind"] == "opt_out" and found["phone"] == "+16507868629"
    assert found["person"]["van_id"] is None


def test_other_replies_are_no_attempt_and_start_is_an_opt_in() -> None:
    reply = load("sb_reply.json", van_id="5", call_time=WHEN, content="yes, I will vote")
    assert callhub.adapt(reply, CTX) == []  # the person wrote back: not an attempt
    start = load("sb_reply.json", van_id="5", call_time=WHEN, content=" start ")
    assert signal(callhub.adapt(start, CTX))["kind"] == "opt_in"


def test_do_not_call_is_an_attempt_and_an_opt_out_for_the_number_called() -> None:
    items = callhub.adapt(call(disposition="DO_NOT_CALL"), CTX)
    attempt = one(call(disposition="DO_NOT_CALL"))
    assert attempt["result"] == "do_not_call" and attempt["opt_out"] is True
    found = signal([i for i in items if isinstance(i, Signal)])
    assert (found["kind"], found["channel"], found["phone"]) == ("opt_out", "phone", "+61468828420")
    assert found["contact_source_event_id"] == attempt["source_event_id"]


def test_the_published_workflow_webhook_body_has_no_envelope() -> None:
    body = json.loads((DATA / "cc_notes_workflow.json").read_text())
    body |= {"van_id": "7", "call_time": WHEN}
    ctx = AdapterContext(
        "callhub-1",
        "org-a",
        "callhub",
        options=OPTIONS | {"dispositions": {"MEANINGFUL_INTERACTION": "canvassed"}},
    )
    event = one(body, ctx)
    assert (event["channel"], event["result"]) == ("phone", "canvassed")
    assert event["result_raw"] == "MEANINGFUL_INTERACTION"
    assert event["campaign_id"] == "Fishy Campaign"
    assert len(event["responses"]) == 3
    enveloped = one(load("cc_notes_workflow.json", van_id="7", call_time=WHEN), ctx)
    assert enveloped["source_event_id"] == event["source_event_id"]  # one call, either shape


def test_a_bare_reply_body_is_a_reply_and_workflow_event_can_say_so() -> None:
    body = json.loads((DATA / "sb_reply.json").read_text())["data"] | {"call_time": WHEN}
    assert signal(callhub.adapt(body, CTX))["kind"] == "opt_out"
    as_call = AdapterContext("callhub-1", "org-a", "callhub", options=OPTIONS | {
        "workflow_event": "cc.notes"})  # fmt: skip
    [held] = callhub.adapt(body, as_call)
    assert isinstance(held, Unmapped) and held.reason_code == "no_person_id"
    wrong = AdapterContext("callhub-1", "org-a", "callhub", options={"workflow_event": "x"})
    with pytest.raises(ConfigError, match="workflow_event"):
        callhub.adapt(body, wrong)


def test_a_body_of_neither_shape_names_the_envelope() -> None:
    with pytest.raises(PayloadError) as err:
        callhub.adapt({"first_name": "John"}, CTX)
    assert err.value.field == "hook" and "workflow" in err.value.problem


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


@pytest.mark.parametrize(
    ("disposition", "reached"),
    [("MACHINE", "machine"), ("LEFT_MESSAGE", "machine"), ("ANSWER", "person"),
     ("NO_ANSWER", None)],
)  # fmt: skip
def test_who_a_call_reached_comes_from_the_disposition(disposition: str, reached: str) -> None:
    event = one(call(disposition=disposition, surveys=[]))
    assert event.get("reached") == reached
    assert "call_duration_s" not in event and "location" not in event  # CallHub sends neither


def test_a_call_with_answers_reached_a_person() -> None:
    assert one(call())["reached"] == "person"  # the capture: no disposition, survey answered
