"""Mobilize attendances -> volunteer shifts (fixtures from Mobilize's API README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.tools.base import AdapterContext, PayloadError, Shift, Signal, Unmapped
from producers.tools.mobilize import shifts as mobilize
from schemas.recordjson import PERSON_SIGNAL, VOLUNTEER_SHIFT, RecordJson

DATA = Path(__file__).parent.parent / "data" / "mobilize"
CTX = AdapterContext("mobilize:15", "org-a", "mobilize", campaign_id="gotv-2026")
SHIFTS = RecordJson(VOLUNTEER_SHIFT)
SIGNALS = RecordJson(PERSON_SIGNAL)
NOW_MS = 1_800_000_000_000


def export() -> list[Any]:
    return list(mobilize.parse_export((DATA / "shifts_export.json").read_text()))


def shifts(items: list[Any]) -> list[dict[str, Any]]:
    """The shift records among ``items``, each checked against the standard."""
    out = []
    for item in items:
        if isinstance(item, Shift):
            record, problems = SHIFTS.convert(item.record, NOW_MS)
            assert problems == [], problems
            assert record is not None
            out.append(record)
    return out


def only_shift(attendance: Any) -> dict[str, Any]:
    [record] = shifts(mobilize.adapt(attendance, CTX))
    return record


def test_the_readme_example_is_a_registered_shift_never_a_contact() -> None:
    items = mobilize.adapt(export()[0], CTX)
    assert not any(isinstance(i, dict) for i in items)  # no contact attempt at all
    [shift] = shifts(items)
    assert shift["status"] == "registered"
    assert shift["status_raw"] == "REGISTERED/null"
    assert shift["shift_id"] == "198"
    assert shift["source_event_id"] == "198:registered"
    assert shift["person"]["vendor_id"] == "mobilize:57"
    assert shift["volunteer_event_id"] == "mobilize-event:345"
    assert shift["event_type"] == "training"
    assert shift["team_id"] == "campaign123"
    assert shift["campaign_id"] == "gotv-2026"
    assert shift["shift_start"] == 1536679800 * 1000
    assert shift["shift_end"] == 1536690600 * 1000
    assert shift["status_at"] == 1536588703 * 1000


@pytest.mark.parametrize(
    ("index", "status", "event_type"),
    [
        (1, "confirmed", "phone_bank"),
        (2, "attended", "canvass"),
        (3, "no_show", "canvass"),
        (4, "cancelled", "text_bank"),
    ],
)
def test_attended_no_show_and_cancelled_shifts(index: int, status: str, event_type: str) -> None:
    shift = only_shift(export()[index])
    assert (shift["status"], shift["event_type"]) == (status, event_type)


def test_user_id_is_the_volunteer_key_when_mobilize_sends_it() -> None:
    assert only_shift(export()[2])["person"]["vendor_id"] == "mobilize-user:9059"


def test_sms_opt_out_and_opt_in_become_text_signals() -> None:
    items = mobilize.adapt(export()[3], CTX)
    [signal] = [i for i in items if isinstance(i, Signal)]
    record, problems = SIGNALS.convert(signal.record, NOW_MS)
    assert problems == [] and record is not None
    assert (record["kind"], record["channel"]) == ("opt_out", "text")
    assert record["person"]["vendor_id"] == "mobilize:60"
    assert "5555550100" not in json.dumps(record)  # Mobilize's phone is not carried
    [opt_in] = [i for i in mobilize.adapt(export()[0], CTX) if isinstance(i, Signal)]
    assert opt_in.record["kind"] == "opt_in"
    assert not [i for i in mobilize.adapt(export()[1], CTX) if isinstance(i, Signal)]


def test_an_attendance_without_id_is_unmapped_without_personal_data() -> None:
    [item] = mobilize.adapt(export()[5], CTX)
    assert isinstance(item, Unmapped)
    assert item.reason_code == "no_attendance_id"
    assert "Volunteer62" not in item.reason


def test_history_keeps_each_state_once_and_rereading_adds_nothing() -> None:
    text = (DATA / "shifts_history.jsonl").read_text()
    states = [only_shift(a) for a in mobilize.parse_export(text)]
    assert [s["status"] for s in states] == ["registered", "confirmed", "attended"]
    assert len({s["event_id"] for s in states}) == 3
    assert {s["shift_id"] for s in states} == {"198"}
    again = [only_shift(a) for a in mobilize.parse_export(text)]
    assert [s["event_id"] for s in again] == [s["event_id"] for s in states]
    assert max(states, key=lambda s: s["status_at"])["status"] == "attended"


def test_export_shapes_one_page_array_and_json_lines_read_alike() -> None:
    page = json.loads((DATA / "shifts_export.json").read_text())
    one = list(mobilize.parse_export(json.dumps(page)))
    assert len(one) == 6
    assert list(mobilize.parse_export(json.dumps([page, page]))) == one + one
    assert list(mobilize.parse_export(json.dumps(page["data"]))) == one
    lines = "\n".join(json.dumps(a) for a in page["data"]) + "\n"
    assert list(mobilize.parse_export(lines)) == one


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{nope", "(file)"),
        ('{"count": 1}', "data"),
        ('"a string"', "(file)"),
        ("[1]", "[0]"),
        ('{"data": []}\n{nope', "line 2"),
    ],
)
def test_a_broken_export_names_where(text: str, field: str) -> None:
    with pytest.raises(PayloadError) as err:
        list(mobilize.parse_export(text))
    assert err.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "MAYBE"}, "status"),
        ({"status": None}, "status"),
        ({"modified_date": "yesterday"}, "modified_date"),
        ({"event": {}}, "event.event_type"),
        ({"person": {}}, "person.id"),
        ({"attended": "yes"}, "attended"),
    ],
)
def test_malformed_attendance_is_a_payload_error(change: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as err:
        mobilize.adapt(export()[0] | change, CTX)
    assert err.value.field == field


@given(
    status=st.sampled_from(mobilize.STATUSES),
    attended=st.none() | st.booleans(),
    # any time the standard takes: from 2000-01-01 to a day after receipt (NOW_MS)
    modified=st.integers(min_value=946_684_800, max_value=NOW_MS // 1000 + 86_400),
)
def test_every_state_fits_the_standard(status: str, attended: bool | None, modified: int) -> None:
    attendance = export()[0] | {"status": status, "attended": attended, "modified_date": modified}
    shift = only_shift(attendance)
    assert shift["status"] == mobilize.shift_status(status, attended)
    assert (shift["status"] == "attended") is (attended is True)
