"""Partial maps count the contact: a VAN body whose result maps but one survey answer does not
is counted, the unknown answer kept (VAN's ids) and its dead letter marked counted; a source
that holds partial contacts holds the whole; the stream lets the filled-in contact through."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import Programs
from producers.intake import Hallway, Origin, gateway_topic
from producers.tools.base import AdapterContext, Unmapped
from producers.tools.van.adapter import adapt
from schemas import CONTACT_EVENT, DEAD_LETTER, AvroCodec
from schemas.deadletter import dead_letter_key
from schemas.ids import DEDUPE_KEY_SQL, dedupe_key, event_id_for
from schemas.van_codes import load_codes
from streams.logic.process import DUPLICATE, ENRICHED, Context, process_batch

DATA = Path(__file__).resolve().parents[1] / "data" / "van"
CODES = load_codes(DATA / "codes_committee.yaml")
CODEC = AvroCodec()
NOW_MS = int(time.time() * 1000)


def ctx(codes: Any = CODES) -> AdapterContext:
    return AdapterContext(
        source_id="van-sync",
        org_id="org1",
        source_system="van",
        campaign_id="gotv",
        options={"codes": codes},
    )


def one_unknown_question() -> dict[str, Any]:
    """Spoke Rewired's body, with a second survey question the committee's map lacks."""
    body: dict[str, Any] = json.loads((DATA / "spoke_rewired_responses.json").read_text())
    body["responses"].append(
        {"type": "SurveyResponse", "surveyQuestionId": 555001, "surveyResponseId": 777002}
    )
    return body


def test_one_unknown_question_keeps_the_contact_and_its_raw_ids() -> None:
    [item] = adapt(one_unknown_question(), ctx(), id_type="vanid", person_id="8675309")
    assert isinstance(item, Unmapped) and item.partial is not None
    assert item.reason_code == "unknown_survey_question" and "555001" in item.reason
    event = item.partial
    assert event["result"] == "canvassed" and event["channel"] == "text"
    assert event["responses"] == [
        {"question_id": "2020VotePPE", "answer": "Yes - Early", "support_level": 1}
    ]
    assert event["unmapped_responses"] == [
        {"question": "555001", "answer": "777002", "reason_code": "unknown_survey_question"}
    ]
    assert item.source_event_id == event["source_event_id"]


def test_an_unknown_result_holds_the_whole_contact_and_names_everything() -> None:
    body = one_unknown_question()
    body["responses"] = None
    body["resultCodeId"] = 9999
    [item] = adapt(body, ctx(), id_type="vanid", person_id="1")
    assert isinstance(item, Unmapped) and item.partial is None
    assert item.reason_code == "unknown_result_code"


def test_once_the_map_learns_the_question_the_same_body_is_complete(tmp_path: Path) -> None:
    learned = tmp_path / "codes.yaml"
    codes = yaml.safe_load((DATA / "codes_committee.yaml").read_text())
    codes["survey_questions"][555001] = {
        "name": "Volunteer",
        "responses": {777002: {"answer": "Yes"}},
    }
    learned.write_text(yaml.safe_dump(codes))
    before = adapt(one_unknown_question(), ctx(), id_type="vanid", person_id="8675309")
    [after] = adapt(one_unknown_question(), ctx(load_codes(learned)), id_type="vanid",
                    person_id="8675309")  # fmt: skip
    assert isinstance(after, dict) and "unmapped_responses" not in after
    assert after["source_event_id"] == before[0].source_event_id  # type: ignore[union-attr]
    assert {"question_id": "Volunteer", "answer": "Yes", "support_level": None} in after[
        "responses"
    ]


def _prepare(hold: bool) -> Any:
    items = adapt(one_unknown_question(), ctx(), id_type="vanid", person_id="8675309")
    origin = Origin("van-sync", "org1", "van", gateway_topic("van-sync"), hold_partial=hold)
    return Hallway(CODEC).prepare(items, origin, b'{"path": "..."}', NOW_MS)


def test_the_hallway_counts_a_partial_contact_and_marks_its_letter_counted() -> None:
    prepared = _prepare(hold=False)
    assert prepared.problems == [] and prepared.partial == 1
    [(key, value)] = prepared.raw
    record = CODEC.decode(value, expect=CONTACT_EVENT)[1]
    assert record["unmapped_responses"][0]["question"] == "555001"
    [(letter_key, letter_value)] = prepared.dlq
    letter = CODEC.decode(letter_value, expect=DEAD_LETTER)[1]
    assert letter["counted"] is True and letter["event_id"] == key.decode()
    assert letter_key.decode() == dead_letter_key(letter) == f"gateway:{key.decode()}"


def test_a_source_that_holds_partial_contacts_sends_only_the_letter() -> None:
    prepared = _prepare(hold=True)
    assert prepared.raw == [] and prepared.partial == 0
    [(_, letter_value)] = prepared.dlq
    assert CODEC.decode(letter_value, expect=DEAD_LETTER)[1]["counted"] is False


def test_dedupe_key_is_the_id_for_a_complete_contact_and_moves_with_the_held_answers() -> None:
    eid = event_id_for("org1", "van", "x")
    held = [{"question": "1", "answer": "2", "reason_code": "unknown_survey_question"}]
    assert dedupe_key(eid) == dedupe_key(eid, []) == eid
    assert dedupe_key(eid, held) != eid and dedupe_key(eid, held) == dedupe_key(eid, held[::-1])
    assert dedupe_key(eid, held) != dedupe_key(eid, [dict(held[0], answer="3")])


def test_the_stream_takes_the_filled_in_contact_once(tmp_path: Path) -> None:
    partial = _prepare(hold=False).raw[0]
    event = CODEC.decode(partial[1], expect=CONTACT_EVENT)[1]
    complete = dict(event, unmapped_responses=[])
    complete_raw = CODEC.encode(CONTACT_EVENT, complete)
    seen: set[str] = set()
    context = Context.build(CODEC, Programs({"org1": frozenset({"gotv"})}), lambda _: None,
                            seen.__contains__)  # fmt: skip

    def run(*values: bytes) -> list[str]:
        result = process_batch([(v, None, "raw", 0, i) for i, v in enumerate(values)], context)
        seen.update(result.accepted_ids)
        return [o.kind for o in result.outcomes]

    assert run(partial[1], partial[1]) == [ENRICHED, DUPLICATE]  # a retried partial: once
    assert run(partial[1]) == [DUPLICATE]
    assert run(complete_raw) == [ENRICHED]  # filled in: same id, passes once
    assert run(complete_raw, partial[1]) == [DUPLICATE, DUPLICATE]


def test_the_sink_knows_a_stored_contact_by_the_same_key_as_the_stream(tmp_path: Path) -> None:
    """The ledger's key of a row (Python, on insert) and of what the store holds (SQL, when the
    sink warms up) agree: a copy is dropped, the filled-in contact is stored."""
    from sinks.migrate import migrate
    from sinks.rows import CONTACT_COLUMNS, contact_ledger_key
    from sinks.store import open_store

    client = open_store(f"chdb:///{tmp_path / 'chdb'}")
    migrate(client)
    held = [
        {"question": "555001", "answer": "777002", "reason_code": "unknown_survey_question"},
        {"question": "9é", "answer": "1", "reason_code": "unknown_survey_response"},
    ]
    rows = []
    for event_id, answers in (("e-partial", held), ("e-complete", [])):
        row: list[Any] = [None] * len(CONTACT_COLUMNS)
        row[CONTACT_COLUMNS.index("event_id")] = event_id
        for name in ("question", "answer", "reason_code"):
            row[CONTACT_COLUMNS.index(f"unmapped_responses.{name}")] = [a[name] for a in answers]
        rows.append(row)
    client.insert(
        "contact_events",
        [[r[CONTACT_COLUMNS.index(c)] for c in KEYED] for r in rows],
        column_names=KEYED,
    )
    stored = client.query(
        f"SELECT event_id, {DEDUPE_KEY_SQL} FROM contact_events ORDER BY event_id"
    ).result_rows
    at = CONTACT_COLUMNS.index("event_id")
    assert dict(stored) == {r[at]: contact_ledger_key(r) for r in rows}
    assert dict(stored)["e-partial"] == dedupe_key("e-partial", held) != "e-partial"
    assert dict(stored)["e-complete"] == "e-complete"


KEYED = [
    "event_id", "unmapped_responses.question", "unmapped_responses.answer",
    "unmapped_responses.reason_code",
]  # fmt: skip


@pytest.mark.parametrize("when", [-62135596801, 10**20, "0001-01-01T00:00:00+05:00"])
def test_a_time_out_of_range_is_a_payload_error_not_a_500(when: Any) -> None:
    from producers.tools.base import PayloadError, timestamp

    with pytest.raises(PayloadError, match=r"is not (a time|an ISO-8601 timestamp)"):
        timestamp(when, "canvassContext.dateCanvassed")
