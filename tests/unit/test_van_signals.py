"""Person signals in VAN canvass-response bodies (tests/data/van/SOURCES.md)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.tools.base import AdapterContext, PayloadError, Signal, Unmapped
from producers.tools.van import adapter as van
from producers.tools.van import signals as van_signals
from schemas.recordjson import PERSON_SIGNAL, RecordJson
from schemas.van_codes import load_codes

DATA = Path(__file__).resolve().parents[1] / "data" / "van"
CODES = load_codes(DATA / "codes_committee.yaml")
CONVERTER = RecordJson(PERSON_SIGNAL)
RECEIVED = "2026-10-03T17:04:05+00:00"
RECEIVED_MS = int(dt.datetime.fromisoformat(RECEIVED).timestamp() * 1000)
CTX = AdapterContext("van-sync", "org1", "van", campaign_id="gotv", options={"codes": CODES})


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return loaded


def signals(payload: Any, person: str = "8675309") -> list[dict[str, Any]]:
    found = van_signals.signals(
        payload, CTX, id_type="vanid", person_id=person, received_at=RECEIVED
    )
    out = []
    for item in found:
        assert isinstance(item, Signal)
        record, problems = CONVERTER.convert(item.record, 1_800_000_000_000)
        assert problems == [], problems
        assert record is not None
        out.append(record)
    return out


def attempt(payload: Any) -> list[Any]:
    return van.adapt(payload, CTX, id_type="vanid", person_id="8675309", received_at=RECEIVED)


def test_an_activist_code_only_body_is_no_attempt_but_a_signal() -> None:
    payload = body("parsons_activist_code_only")
    assert attempt(payload) == []  # omitActivistCodeContactHistory: VAN writes no contact
    [signal] = signals(payload)
    assert signal["kind"] == "activist_code_applied"
    assert (signal["code"], signal["raw"]) == ("18917", "18917")  # no name in the map
    assert signal["person"]["van_id"] == "8675309"
    assert signal["occurred_at"] == 1601510400000  # 2020-10-01, the body's date
    assert signal["channel"] is None and signal["phone"] is None


def test_a_removed_activist_code_is_a_removal() -> None:
    [signal] = signals(body("parsons_activist_code_remove"))
    assert signal["kind"] == "activist_code_removed"


def test_activist_codes_take_their_name_from_the_code_map() -> None:
    found = signals(body("spoke_rewired_responses"))
    assert [(s["kind"], s["code"], s["raw"]) for s in found] == [
        ("activist_code_applied", "EdayIssue-PollWorker", "4482459")
    ]


def test_spokes_opt_out_with_an_unknown_result_is_recorded() -> None:
    payload = body("spoke_ngpvan_optout")
    [held] = attempt(payload)
    assert isinstance(held, Unmapped)  # the attempt waits for the code map (205, no type)
    [signal] = signals(payload)
    assert (signal["kind"], signal["channel"]) == ("opt_out", "text")
    assert signal["phone"] == "+15555550100"
    assert signal["raw"] == "smsOptInStatus O"
    assert signal["person"]["van_id"] == "8675309"
    assert signal["occurred_at"] == RECEIVED_MS  # no dateCanvassed: the receive time


def test_an_opt_out_result_code_is_one_opt_out_on_its_channel() -> None:
    [signal] = signals(body("spoke_rewired_opt_out"))
    assert (signal["kind"], signal["channel"]) == ("opt_out", "text")
    assert signal["raw"] == "resultCodeId 130 (Do Not Text)"
    both = body("spoke_rewired_opt_out")
    both["canvassContext"]["phone"]["smsOptInStatus"] = "O"
    [one] = signals(both)  # the result and the phone status say the same thing once
    assert one["phone"] == "+15555550100"


def test_the_opt_out_survives_a_body_that_is_otherwise_refused() -> None:
    payload = body("spoke_ngpvan_optout")
    payload["canvassContext"]["dateCanvassed"] = "last tuesday"
    payload["responses"] = [{"type": "SurveyResponse", "surveyQuestionId": "x"}]
    payload["resultCodeId"] = None
    with pytest.raises(PayloadError):
        attempt(payload)
    [signal] = signals(payload)
    assert signal["kind"] == "opt_out"
    assert signal["occurred_at"] == RECEIVED_MS


def test_an_opt_in_is_recorded_and_unknown_status_says_nothing() -> None:
    payload = body("spoke_ngpvan_optout")
    payload["canvassContext"]["phone"]["smsOptInStatus"] = "I"
    [signal] = signals(payload)
    assert signal["kind"] == "opt_in"
    payload["canvassContext"]["phone"]["smsOptInStatus"] = "U"
    assert signals(payload) == []


def test_a_retry_keeps_its_ids_and_another_person_gets_others() -> None:
    payload = body("spoke_ngpvan_optout")
    assert [s["event_id"] for s in signals(payload)] == [s["event_id"] for s in signals(payload)]
    assert signals(payload)[0]["event_id"] != signals(payload, person="42")[0]["event_id"]


def test_no_signal_without_a_usable_person() -> None:
    payload = body("spoke_ngpvan_optout")
    assert van_signals.signals(payload, CTX, id_type="vanid", person_id="abc") == []
    assert van_signals.signals(payload, CTX, id_type="email", person_id="1") == []


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(
    context=st.dictionaries(
        st.sampled_from(["dateCanvassed", "phone", "contactTypeId", "x"]), JSONISH
    ),
    result=JSONISH,
    responses=JSONISH,
)
def test_any_body_gives_signals_or_none_never_an_error(
    context: dict[str, Any], result: Any, responses: Any
) -> None:
    payload = {"canvassContext": context, "resultCodeId": result, "responses": responses}
    for signal in signals(payload):
        assert signal["kind"] in ("opt_in", "opt_out", "activist_code_applied")
