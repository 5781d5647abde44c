"""VAN's Pipeline tables read together (tests/data/van_export/SOURCES.md): each contact with its
survey responses and activist codes, responses without their contact row as a Canvassed
contact, and rows that name no contact left out and counted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from core.errors import InputError
from producers.tools.base import AdapterContext, PayloadError, Unmapped
from producers.tools.van import export, pipeline
from schemas.jsonconv import ContactJson
from schemas.van_codes import load_codes

DATA = Path(__file__).parents[1] / "data"
TABLES = DATA / "van_export"
CONTACTS = TABLES / "contactscontacts_vf.csv"
RESPONSES = TABLES / "contactssurveyresponses_vf.csv"
CODES_TABLE = TABLES / "contactsactivistcodes_vf.csv"
CODES = load_codes(DATA / "van" / "codes_committee.yaml")
CTX = AdapterContext(
    source_id="import:t", org_id="demo-org", source_system="van", campaign_id="gotv-2026"
)


def groups(*paths: Path) -> tuple[pipeline.PipelineExport, list[tuple[int, dict[str, Any]]]]:
    reader = pipeline.PipelineExport(list(paths))
    return reader, list(reader)


def adapt(group: dict[str, Any]) -> list[Any]:
    return export.adapt(group, CTX, CODES)


def test_each_table_is_told_by_its_columns() -> None:
    reader = pipeline.PipelineExport([RESPONSES, CONTACTS, CODES_TABLE])
    assert reader.tables == {
        pipeline.RESPONSES: RESPONSES,
        pipeline.CONTACTS: CONTACTS,
        pipeline.CODES: CODES_TABLE,
    }
    with pytest.raises(InputError, match="both VAN contacts tables"):
        pipeline.PipelineExport([CONTACTS, TABLES / "contact_history.csv"])


def test_a_contact_carries_its_responses_and_codes_and_holds_an_unknown_answer() -> None:
    _, rows = groups(CONTACTS, RESPONSES, CODES_TABLE)
    by_line = dict(rows)
    first = by_line[2]  # contact 800000201
    assert len(first["responses"]) == 2 and len(first["activist_codes"]) == 1
    [item] = adapt(first)
    assert isinstance(item, Unmapped) and item.partial is not None
    assert item.reason_code == "unknown_survey_question" and "555001" in item.reason
    event = item.partial
    assert event["source_event_id"] == "800000201" and event["result"] == "canvassed"
    assert event["responses"] == [
        {"question_id": "2020VotePPE", "answer": "Yes - Early", "support_level": 1}
    ]
    assert event["activist_codes"] == ["EdayIssue-PollWorker"]
    assert event["unmapped_responses"] == [
        {"question": "555001", "answer": "777002", "reason_code": "unknown_survey_question"}
    ]
    record, problems = ContactJson().convert(event, 1_800_000_000_000)
    assert problems == [] and record is not None
    # every other contact of the contacts table is as it was, without responses
    assert [line for line, _ in rows[:6]] == [2, 3, 4, 5, 6, 7]
    assert all(group["responses"] == [] for line, group in rows[1:6])


def test_responses_without_their_contact_row_are_a_canvassed_contact() -> None:
    reader, rows = groups(CONTACTS, RESPONSES, CODES_TABLE)
    line, orphan = rows[-1]
    assert line == 8 and orphan["contact"] is None  # numbered after the last contacts line
    [event] = adapt(orphan)
    assert isinstance(event, dict)
    assert event["source_event_id"] == "800000207" and event["result"] == "canvassed"
    assert event["result_raw"] == "Canvassed" and event["channel"] == "door"
    assert event["responses"] == [
        {"question_id": "109149", "answer": "Strong Support", "support_level": 1}
    ]
    assert reader.notes() == [
        "1 activist codes rows name no contact (applied outside any contact: not attempts, "
        "not imported)",
        "1 survey responses rows name no contact (applied outside any contact: not attempts, "
        "not imported)",
    ]


def test_a_responses_table_alone_gives_its_contacts() -> None:
    _, rows = groups(RESPONSES)
    assert [line for line, _ in rows] == [1, 2]
    events = [adapt(group)[0] for _, group in rows]
    assert isinstance(events[0], Unmapped) and events[0].partial is not None
    assert isinstance(events[1], dict) and events[1]["source_event_id"] == "800000207"


def test_responses_on_a_contact_that_was_not_canvassed_are_a_bad_row() -> None:
    _, rows = groups(CONTACTS, RESPONSES)
    not_home = dict(rows[1][1], responses=rows[0][1]["responses"][:1])  # 800000202: Not Home
    with pytest.raises(PayloadError, match="only on a Canvassed contact"):
        adapt(not_home)


def test_a_bad_response_row_names_every_field(tmp_path: Path) -> None:
    bad = tmp_path / "responses.csv"
    text = RESPONSES.read_text().splitlines()
    bad.write_text(
        "\n".join([text[0], text[1].replace(",378552,1555791,", ",x,,"), ""])
    )  # no question id, no response id
    _, rows = groups(CONTACTS, bad)
    with pytest.raises(PayloadError) as caught:
        adapt(rows[0][1])
    assert [f for f, _ in caught.value.problems] == ["SurveyQuestionID", "SurveyResponseID"]


def test_removed_codes_of_a_changed_entities_export_are_not_applied(tmp_path: Path) -> None:
    codes = tmp_path / "ContactsActivistCodes.csv"
    codes.write_text(
        "ContactsActivistCodeID,VanID,ActivistCodeID,CommitteeID,ChangeTypeID,IsDeleted,"
        "ContactsContactID\n"
        "1,2000001,4482459,55001,1,false,800000201\n"
        "2,2000001,4482460,55001,3,true,800000201\n"
    )
    reader, rows = groups(CONTACTS, codes)
    assert rows[0][1]["activist_codes"][0]["ActivistCodeID"] == "4482459"
    assert len(rows[0][1]["activist_codes"]) == 1 and reader.removed_codes == 1


def test_a_single_contacts_table_still_reads_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "contact_history.csv"
    shutil.copy(TABLES / "contact_history.csv", path)
    reader = pipeline.PipelineExport([path])
    assert list(reader.tables) == [pipeline.CONTACTS]
