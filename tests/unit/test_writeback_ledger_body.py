"""The write-back's ledger (durable states) and its body rules (pure functions)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.van_client import read_answer, retry_after
from schemas.van_codes import load_codes
from sinks.writeback.body import Call, NotPosted, ReverseCodes, from_van_route, map_back
from sinks.writeback.ledger import Ledger, NewEntry

DATA = Path(__file__).resolve().parents[1] / "data" / "van_api"


def new(event_id: str, **kw: Any) -> NewEntry:
    return NewEntry(event_id, "org", "van", "c", 0.0, person="1", mode=1, body="{}", **kw)


def test_a_crash_while_sending_leaves_uncertain(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.add([new("a"), new("b")])
    assert ledger.begin("a")
    ledger.close()  # the process dies with 'a' in flight
    again = Ledger(tmp_path / "l.sqlite")
    assert again.recover() == 1
    assert {e.event_id: e.state for e in again.entries()} == {"a": "uncertain", "b": "pending"}
    assert again.get("a").error_code == "crash_while_sending"  # type: ignore[union-attr]


def test_an_event_seen_again_is_left_as_it_is(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.add([new("a")])
    assert ledger.begin("a")
    ledger.settle("a", "posted", van_status=204)
    assert ledger.add([new("a")]) == 0  # redelivered after a broker restart
    assert ledger.get("a").state == "posted"  # type: ignore[union-attr]


def test_retry_and_skip_move_what_they_name(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.add([new("a", state="uncertain"), new("b", state="uncertain"), new("c")])
    assert ledger.move(["a"], ("uncertain",), "pending") == 1
    assert ledger.move(None, ("uncertain",), "skipped") == 1
    assert ledger.move(["c"], ("uncertain",), "skipped") == 0  # c is not uncertain
    assert {e.event_id: e.state for e in ledger.entries()} == {
        "a": "pending",
        "b": "skipped",
        "c": "pending",
    }
    assert not ledger.begin("b")  # a skipped row is never sent


def test_changed_rows_are_published_until_marked(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.add([new("a"), new("b")])
    rows = ledger.unpublished(10)
    assert {r.event_id for r in rows} == {"a", "b"}
    ledger.mark_published([(r.event_id, r.version) for r in rows])
    assert ledger.unpublished(10) == []
    ledger.begin("a")
    assert [r.event_id for r in ledger.unpublished(10)] == ["a"]


def test_counts_per_org_source_and_state(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.add([new("a"), new("b", state="passed")])
    assert ledger.counts() == {("org", "van", "pending"): 1, ("org", "van", "passed"): 1}


CODES = ReverseCodes.from_sections(load_codes(DATA / "committee.codes.yaml").describe())
AT = dt.datetime(2026, 10, 3, 15, 4, 5, tzinfo=dt.UTC)


def contact(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": AT,
        "person": {"van_id": "101"},
        "result": "not_home",
        "responses": [],
        "activist_codes": [],
    }
    return base | kw  # fmt: skip


def test_a_door_contact_maps_back_to_vans_ids() -> None:
    call = map_back(contact(), CODES, mode=1, skip_matching=False)
    assert isinstance(call, Call) and call.person == "101" and call.mode == 1
    assert orjson.loads(call.body) == {
        "canvassContext": {
            "contactTypeId": 2,
            "inputTypeId": 11,
            "dateCanvassed": "2026-10-03T15:04:05Z",
        },
        "resultCodeId": 1,
    }


def test_responses_and_codes_are_sent_without_a_result_and_matching_can_be_skipped() -> None:
    c = contact(
        result="canvassed",
        person={"state_file_id": "PA 1/2"},
        responses=[{"question_id": "2020VotePPE", "answer": "Maybe", "support_level": None}],
        activist_codes=["EdayIssue-PollWorker", "4388538"],
    )
    call = map_back(c, CODES, mode=0, skip_matching=True)
    assert isinstance(call, Call) and call.person == "stateFileId:PA 1/2"
    body = orjson.loads(call.body)
    assert body["resultCodeId"] is None and body["canvassContext"]["skipMatching"] is True
    assert body["responses"] == [
        {"type": "SurveyResponse", "surveyQuestionId": 378552, "surveyResponseId": 1555794},
        {"type": "ActivistCode", "activistCodeId": 4482459, "action": "Apply"},
        {"type": "ActivistCode", "activistCodeId": 4388538, "action": "Apply"},
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"person": {"voter_id": "ZZ1", "state": "ZZ"}}, "no_van_person"),
        ({"channel": "text", "contact_type": "sms", "result": "texted"}, "phone_required"),
        ({"channel": "phone", "contact_type": "phone", "result": "busy"}, "phone_required"),
        ({"result": "hostile"}, "unmapped_result"),
        (
            {"result": "canvassed", "responses": [{"question_id": "q", "answer": "a"}]},
            "unmapped_response",
        ),
        ({"activist_codes": ["Nobody Knows"], "result": "canvassed"}, "unmapped_activist_code"),
    ],
)
def test_what_cannot_be_mapped_is_not_posted_and_says_why(
    changes: dict[str, Any], reason: str
) -> None:
    got = map_back(contact(**changes), CODES, mode=1, skip_matching=False)
    assert isinstance(got, NotPosted) and got.reason_code == reason and got.reason


def test_a_van_route_request_is_posted_as_the_tool_sent_it() -> None:
    body = '{"resultCodeId": 18, "canvassContext": {"contactTypeId": 1}}'
    call = from_van_route({"person": "stateFileId:PA1", "body": body, "mode": 0}, 1)
    assert (call.person, call.body, call.mode) == ("stateFileId:PA1", body.encode(), 0)
    assert from_van_route({"person": "1", "body": body, "mode": None}, 1).mode == 1


def test_vans_answers_are_read_into_what_the_ledger_does() -> None:
    assert read_answer(204, {}, b"").kind == "posted"
    err = json.dumps({"errors": [{"code": "INVALID_PARAMETER", "text": "bad"}]}).encode()
    r = read_answer(400, {}, err)
    assert (r.kind, r.error_code, r.error_text) == ("rejected", "INVALID_PARAMETER", "bad")
    t = read_answer(429, {"retry-after": "7"}, b"")
    assert (t.kind, t.retry_after, t.error_code) == ("retry", 7.0, "HTTP_429")
    assert read_answer(502, {}, b"<html>").kind == "retry"
    assert read_answer(404, {}, b"not json").error_code == "HTTP_404"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("3") == 3.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after("soon") is None and retry_after(None) is None


@given(st.binary(max_size=200), st.integers(min_value=100, max_value=599))
def test_any_answer_is_read_without_raising(content: bytes, status: int) -> None:
    assert read_answer(status, {}, content).kind in ("posted", "rejected", "retry", "uncertain")
