"""Business rules of the stream stage: one test per rule, every channel/result pair."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.config import Programs
from schemas.rules import RESULTS_BY_CHANNEL
from streams.logic.validate import validate

PROGRAMS = Programs({"org-a": frozenset({"gotv", "persuasion"}), "org-b": frozenset({"x"})})
NOW = dt.datetime(2026, 11, 3, 15, 0, tzinfo=dt.UTC)
ALL_RESULTS = sorted(set().union(*RESULTS_BY_CHANNEL.values()))
SECRET_VOTER_ID = "VOTER-8675309"


def event(**changes: Any) -> dict[str, Any]:
    """A decoded ContactEvent as the codec returns it (datetimes, not millis)."""
    record: dict[str, Any] = {
        "event_id": "2b1f9a8e-5c1d-5b36-9d0e-1c2f3a4b5c6d",
        "source_system": "van",
        "source_event_id": "1",
        "org_id": "org-a",
        "campaign_id": "gotv",
        "program_id": None,
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": NOW - dt.timedelta(minutes=5),
        "received_at": NOW,
        "person": {
            "voter_id": SECRET_VOTER_ID,
            "state": "PA",
            "van_id": None,
            "state_file_id": None,
            "vendor_id": None,
        },
        "canvasser_id": "c1",
        "team_id": None,
        "turf_id": None,
        "list_id": None,
        "result": "canvassed",
        "result_raw": "Canvassed",
        "responses": [{"question_id": "support", "answer": "yes", "support_level": 1}],
        "activist_codes": [],
        "opt_out": False,
        "script_completed": None,
    }
    record.update(changes)
    return record


def check(record: dict[str, Any], skew_s: float = 300) -> tuple[str, str] | None:
    return validate(record, PROGRAMS, skew_s)


def test_a_good_event_passes() -> None:
    assert check(event()) is None


def test_unknown_org_names_the_org_and_the_file() -> None:
    code, reason = check(event(org_id="nobody")) or ("", "")
    assert code == "unknown_org"
    assert "'nobody'" in reason and "programs.yaml" in reason


def test_unknown_campaign_says_whose_campaign_it_is_not() -> None:
    code, reason = check(event(campaign_id="x")) or ("", "")  # x belongs to org-b only
    assert code == "unknown_campaign"
    assert "campaign 'x' is not a campaign of org 'org-a' in programs.yaml" in reason


def test_future_occurred_at_beyond_the_skew_is_refused() -> None:
    late = event(occurred_at=NOW + dt.timedelta(days=2))
    code, reason = check(late) or ("", "")
    assert code == "future_occurred_at"
    assert "2 days" in reason and "300s" in reason


def test_future_occurred_at_within_the_skew_passes_up_to_the_limit() -> None:
    assert check(event(occurred_at=NOW + dt.timedelta(seconds=300))) is None
    over = check(event(occurred_at=NOW + dt.timedelta(seconds=301)))
    assert over is not None and over[0] == "future_occurred_at"
    assert check(event(occurred_at=NOW + dt.timedelta(seconds=301)), skew_s=600) is None


def test_responses_without_contact_are_refused() -> None:
    code, reason = check(event(result="not_home")) or ("", "")
    assert code == "responses_without_contact"
    assert "'not_home'" in reason and "canvassed" in reason


def test_a_not_home_without_responses_passes() -> None:
    assert check(event(result="not_home", responses=[])) is None


@pytest.mark.parametrize("channel", sorted(RESULTS_BY_CHANNEL))
@pytest.mark.parametrize("result", ALL_RESULTS)
def test_every_channel_result_pair(channel: str, result: str) -> None:
    got = check(event(channel=channel, result=result, responses=[]))
    if result in RESULTS_BY_CHANNEL[channel]:
        assert got is None
    else:
        assert got is not None and got[0] == "result_channel_mismatch"
        assert f"'{result}'" in got[1] and channel in got[1]


def test_the_channel_tables_match_the_data_standard() -> None:
    assert RESULTS_BY_CHANNEL["door"] >= {"vacant", "lit_drop", "inaccessible"}
    assert "texted" not in RESULTS_BY_CHANNEL["door"]
    assert {"busy", "left_message", "disconnected", "do_not_call"} <= RESULTS_BY_CHANNEL["phone"]
    assert {"texted", "deliverability_error", "do_not_text"} <= RESULTS_BY_CHANNEL["text"]
    assert "not_home" not in RESULTS_BY_CHANNEL["text"]


@pytest.mark.parametrize("level", [0, 6, -1, 99])
def test_support_level_outside_one_to_five_is_refused(level: int) -> None:
    responses = [
        {"question_id": "q1", "answer": "a", "support_level": None},
        {"question_id": "q2", "answer": "b", "support_level": level},
    ]
    code, reason = check(event(responses=responses)) or ("", "")
    assert code == "bad_support_level"
    assert "response 2" in reason and str(level) in reason


@pytest.mark.parametrize("level", [1, 3, 5, None])
def test_support_levels_one_to_five_or_null_pass(level: int | None) -> None:
    responses = [{"question_id": "q", "answer": "a", "support_level": level}]
    assert check(event(responses=responses)) is None


def test_missing_person_when_no_identifier_is_set() -> None:
    nobody = {
        "voter_id": None,
        "state": "PA",
        "van_id": "",
        "state_file_id": " ",
        "vendor_id": None,
    }
    code, reason = check(event(person=nobody)) or ("", "")
    assert code == "missing_person"
    assert "voter_id" in reason


@pytest.mark.parametrize("field", ["voter_id", "van_id", "state_file_id", "vendor_id"])
def test_any_one_identifier_is_enough(field: str) -> None:
    person: dict[str, str | None] = dict.fromkeys(
        ["voter_id", "state", "van_id", "state_file_id", "vendor_id"]
    )
    person[field] = "123"
    assert check(event(person=person)) is None


def test_reasons_carry_no_personal_data() -> None:
    bad = [
        event(org_id="nobody"),
        event(campaign_id="nope"),
        event(occurred_at=NOW + dt.timedelta(hours=5)),
        event(result="refused"),
        event(channel="text", result="not_home", responses=[]),
        event(responses=[{"question_id": "q", "answer": "a", "support_level": 9}]),
    ]
    for record in bad:
        rejected = check(record)
        assert rejected is not None
        assert SECRET_VOTER_ID not in rejected[1]
