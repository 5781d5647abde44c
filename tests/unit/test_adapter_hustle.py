"""Hustle messageStatus-v1 webhooks -> canonical events; consentUpdate-v1 -> person signals.

The fixtures' inner objects are Hustle's documented Lead and MessageStatus resources; the
envelope around them is assumed (tests/data/hustle/SOURCES.md).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from producers.tools.base import AdapterContext, PayloadError, Signal, Unmapped
from producers.tools.hustle import adapter as hustle
from schemas.jsonconv import ContactJson
from schemas.recordjson import PERSON_SIGNAL, RecordJson

DATA = Path(__file__).parent.parent / "data" / "hustle"
CONV = ContactJson()
SIGNALS = RecordJson(PERSON_SIGNAL)
RECEIVED = "2026-10-06T18:22:00+00:00"
CTX = AdapterContext(
    source_id="hustle-1",
    org_id="org-a",
    source_system="hustle",
    options={"person_field": "vanid"},
    received_at=RECEIVED,
)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def one(payload: Any, ctx: AdapterContext = CTX) -> dict[str, Any]:
    """The one event ``payload`` gives, checked to convert to a ContactEvent with no problem."""
    [event] = hustle.adapt(payload, ctx)
    assert isinstance(event, dict)
    record, problems = CONV.convert(event, 1_800_000_000_000)
    assert problems == []
    assert record is not None
    return event


def signal(payload: Any, ctx: AdapterContext = CTX) -> dict[str, Any]:
    """The one person signal ``payload`` gives, checked against the standard."""
    [item] = hustle.adapt(payload, ctx)
    assert isinstance(item, Signal)
    record, problems = SIGNALS.convert(item.record, 1_800_000_000_000)
    assert problems == [] and record is not None, problems
    return record


def unmapped(payload: Any, ctx: AdapterContext = CTX) -> Unmapped:
    [item] = hustle.adapt(payload, ctx)
    assert isinstance(item, Unmapped)
    return item


def test_sent_message_is_texted() -> None:
    event = one(load("message_sent.json"))
    assert event["channel"] == "text"
    assert event["contact_type"] == "p2p_sms"
    assert event["result"] == "texted"
    assert event["result_raw"] == "sent"
    assert event["person"] == {"van_id": "100234"}
    assert event["campaign_id"] == "Or5kP9wZc"
    assert event["occurred_at"] == "2026-10-06T18:21:04.512000+00:00"
    assert event["source_event_id"] == "msg:Ms4hT6rQa:sent"
    assert "opt_out" not in event


@pytest.mark.parametrize(
    ("fixture", "result", "source_event_id"),
    [
        ("message_sent.json", "texted", "msg:Ms4hT6rQa:sent"),
        ("message_delivered.json", "texted", "msg:Ms4hT6rQa:delivered"),
        ("message_failed.json", "deliverability_error", "msg:Ms9jK2vDf:failed"),
        ("message_undelivered.json", "deliverability_error", "msg:Ms1pR5gXs:undelivered"),
    ],
)
def test_golden_fixture_per_result(fixture: str, result: str, source_event_id: str) -> None:
    event = one(load(fixture))
    assert event["result"] == result
    assert event["source_event_id"] == source_event_id
    assert event["org_id"] == "org-a"
    assert event["source_system"] == "hustle"


def test_every_entry_of_the_map_is_exercised_by_a_fixture() -> None:
    raws = set()
    for name in sorted(DATA.glob("*.json")):
        for item in hustle.adapt(load(name.name), CTX):
            if isinstance(item, Signal):  # consent: a signal, never a result
                continue
            assert isinstance(item, dict)
            raws.add(item["result_raw"])
            assert hustle.RESULT_MAP[item["result_raw"]] == item["result"]
    assert raws == set(hustle.RESULT_MAP)


def test_an_opt_out_is_a_signal_not_an_attempt_at_the_receive_time() -> None:
    found = signal(load("consent_opt_out.json"))
    assert (found["kind"], found["channel"]) == ("opt_out", "text")
    assert found["raw"] == "consentUpdate-v1 optOut"
    assert found["occurred_at"] == 1791310920000  # RECEIVED
    assert found["person"]["van_id"] == "100234"
    assert found["phone"] == "+15555550123"
    assert found["source_event_id"] == "consent:Ld8xQ2mVt:optOut"


def test_an_opt_in_is_a_signal_and_messages_in_flight_give_nothing() -> None:
    assert signal(load("consent_opt_in.json"))["kind"] == "opt_in"
    assert hustle.adapt(load("message_queued.json"), CTX) == []


def test_pending_lookup_gives_no_event() -> None:
    payload = load("message_sent.json")
    payload["message"]["status"] = "pending_lookup"
    assert hustle.adapt(payload, CTX) == []


def test_retry_gives_the_same_items() -> None:
    for name in ("message_sent.json", "consent_opt_out.json"):
        assert hustle.adapt(load(name), CTX) == hustle.adapt(load(name), CTX)


def test_opt_out_id_does_not_depend_on_the_receive_time() -> None:
    later = AdapterContext(**{**CTX.__dict__, "received_at": "2026-10-08T09:00:00+00:00"})
    first = signal(load("consent_opt_out.json"))
    retried = signal(load("consent_opt_out.json"), later)
    assert first["event_id"] == retried["event_id"]


def test_unknown_status_is_unmapped_naming_the_code_not_the_person() -> None:
    payload = load("message_sent.json")
    payload["message"]["status"] = "carrier_filtered"
    item = unmapped(payload)
    assert item.reason_code == "unknown_result_code"
    assert "carrier_filtered" in item.reason
    assert "Ms4hT6rQa" in item.reason
    for personal in ("Ld8xQ2mVt", "100234", "+15555550123"):
        assert personal not in item.reason
    assert item.source_event_id == "msg:Ms4hT6rQa:carrier_filtered"
    assert item.campaign_id == "Or5kP9wZc"


def test_unknown_event_type_is_unmapped() -> None:
    payload = load("message_sent.json")
    payload["type"] = "messageReceived-v1"
    item = unmapped(payload)
    assert item.reason_code == "unknown_event_type"
    assert "messageReceived-v1" in item.reason


def test_lead_without_the_person_field_is_unmapped() -> None:
    payload = load("message_sent.json")
    payload["lead"]["customFields"] = {}
    item = unmapped(payload)
    assert item.reason_code == "no_person_id"
    assert "vanid" in item.reason
    assert "Ld8xQ2mVt" not in item.reason
    # an opt-out is kept without the person: its phone number names whom it covers
    opt_out = load("consent_opt_out.json")
    opt_out["lead"]["customFields"] = {"vanid": ""}
    kept = signal(opt_out)
    assert kept["phone"] == "+15555550123" and kept["person"]["van_id"] is None
    del opt_out["lead"]["phoneNumber"]
    assert unmapped(opt_out).reason_code == "no_person_id"


def test_without_person_field_the_hustle_lead_id_is_the_vendor_id() -> None:
    ctx = AdapterContext(
        source_id="hustle-1", org_id="org-a", source_system="hustle", received_at=RECEIVED
    )
    assert one(load("message_sent.json"), ctx)["person"] == {"vendor_id": "Ld8xQ2mVt"}


def test_person_id_is_and_source_campaign() -> None:
    ctx = AdapterContext(
        source_id="hustle-1",
        org_id="org-a",
        source_system="hustle",
        campaign_id="gotv-2026",
        state="pa",
        options={"person_field": "vanid", "person_id_is": "voter_id"},
        received_at=RECEIVED,
    )
    event = one(load("message_delivered.json"), ctx)
    assert event["person"] == {"voter_id": "100234", "state": "pa"}
    assert event["campaign_id"] == "gotv-2026"


@pytest.mark.parametrize(
    "options",
    [
        {"person_field": "vanid", "person_id_is": "phone"},
        {"person_field": ""},
        {"person_field": "vanid", "person_id_is": "voter_id"},  # no state on the source
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any]) -> None:
    ctx = AdapterContext(
        source_id="hustle-1", org_id="org-a", source_system="hustle", options=options
    )
    with pytest.raises(ConfigError):
        hustle.adapt(load("message_sent.json"), ctx)


def _without(payload: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[part]
    del node[last]
    return out


@pytest.mark.parametrize(
    ("fixture", "path"),
    [
        ("message_sent.json", "type"),
        ("message_sent.json", "message"),
        ("message_sent.json", "message.id"),
        ("message_sent.json", "message.status"),
        ("message_sent.json", "lead"),
        ("message_sent.json", "lead.id"),
        ("message_sent.json", "lead.organizationId"),
        ("message_sent.json", "lead.customFields"),
        ("consent_opt_out.json", "lead.globalOptedOut"),
    ],
)
def test_missing_field_is_a_payload_error_naming_it(fixture: str, path: str) -> None:
    with pytest.raises(PayloadError) as caught:
        hustle.adapt(_without(load(fixture), path), CTX)
    assert caught.value.field == path


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("message.status", 3),
        ("message.createdAt", "yesterday"),
        ("lead.globalOptedOut", "yes"),
        ("lead.customFields.vanid", 100234),
        ("lead", "Ld8xQ2mVt"),
    ],
)
def test_wrong_type_is_a_payload_error_naming_the_field(path: str, value: Any) -> None:
    payload = (
        load("consent_opt_out.json") if "globalOptedOut" in path else load("message_sent.json")
    )
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node[part]
    node[last] = value
    with pytest.raises(PayloadError) as caught:
        hustle.adapt(payload, CTX)
    assert caught.value.field == path


def test_not_an_object_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        hustle.adapt([load("message_sent.json")], CTX)


def test_message_without_created_at_uses_the_receive_time() -> None:
    event = one(_without(load("message_failed.json"), "message.createdAt"))
    assert event["occurred_at"] == RECEIVED


def test_no_time_at_all_is_a_payload_error() -> None:
    ctx = AdapterContext(
        source_id="hustle-1", org_id="org-a", source_system="hustle", options=CTX.options
    )
    with pytest.raises(PayloadError) as caught:
        hustle.adapt(load("consent_opt_out.json"), ctx)
    assert caught.value.field == "received_at"
    with pytest.raises(PayloadError) as caught:
        hustle.adapt(_without(load("message_sent.json"), "message.createdAt"), ctx)
    assert caught.value.field == "message.createdAt"
