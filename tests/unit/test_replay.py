"""A held contact's letter read again through the maps as they are now: a VAN request through
its source's codes file, an import row through its recorded spec, a stream-refused event as it
was; always with the event id the contact had."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import SourceConfig
from producers.importers import checkpoint as cp
from producers.importers.runner import import_spec
from producers.intake import Hallway, Origin, gateway_topic
from producers.replay import HELD, PARTIAL, SENT, SKIPPED, HeldLetter, Readmitter
from producers.tools import registry
from producers.tools.van.route import readmit
from schemas import CONTACT_EVENT, DEAD_LETTER, AvroCodec
from schemas.jsonconv import ContactJson, record_json

CODEC = AvroCodec()
RECEIVED_MS = (
    1_794_500_000_000  # 2026-11-12: a VAN body without dateCanvassed keys its id on this day
)
BODY = {
    "canvassContext": {"contactTypeId": 2},
    "responses": [
        {"type": "SurveyResponse", "surveyQuestionId": 378552, "surveyResponseId": 1555791},
        {"type": "SurveyResponse", "surveyQuestionId": 555001, "surveyResponseId": 777002},
    ],
}
KEPT = {"path": "/v4/people/8675309/canvassResponses", "body": BODY}


def codes_file(path: Path, learned: bool) -> Path:
    questions: dict[int, Any] = {
        378552: {
            "name": "2020VotePPE",
            "responses": {1555791: {"answer": "Yes", "support_level": 1}},
        }
    }
    if learned:
        questions[555001] = {"name": "Volunteer", "responses": {777002: {"answer": "Yes"}}}
    path.write_text(yaml.safe_dump({"survey_questions": questions}))
    return path


def van_source(codes: Path) -> SourceConfig:
    return SourceConfig.model_validate(
        {"id": "van-app", "org_id": "o", "secrets": ["k"], "tool": "van", "campaign_id": "c",
         "codes_file": str(codes)}
    )  # fmt: skip


def first_letter(source: SourceConfig) -> tuple[HeldLetter, str]:
    """What the VAN route stored the first time: the partial event's id and its letter."""
    ctx = registry.context_for(source)
    items, _ = readmit(KEPT, ctx, dt.datetime.fromtimestamp(RECEIVED_MS / 1000, dt.UTC).isoformat())
    origin = Origin(source.id, source.org_id, "van", gateway_topic(source.id))
    prepared = Hallway(CODEC).prepare(items, origin, orjson.dumps(KEPT), RECEIVED_MS)
    [(_, value)] = prepared.dlq
    letter = CODEC.decode(value, expect=DEAD_LETTER)[1]
    assert letter["counted"] is True
    held = HeldLetter(
        letter["event_id"], letter["event_id"], "gateway", "gateway:van-app", RECEIVED_MS,
        letter["original"],
    )  # fmt: skip
    return held, prepared.event_ids[0]


def test_a_van_letter_after_the_codes_fix_is_complete_with_the_same_id(tmp_path: Path) -> None:
    codes = codes_file(tmp_path / "codes.yaml", learned=False)
    held, event_id = first_letter(van_source(codes))
    now = RECEIVED_MS + 86_400_000 * 3  # replayed days later: the id keys on the first day
    again = Readmitter({"van-app": van_source(codes)}, tmp_path, CODEC).prepare(held, now)
    assert again.partial == 1 and again.event_ids == [event_id]  # still partial: same id
    codes_file(codes, learned=True)
    fixed = Readmitter({"van-app": van_source(codes)}, tmp_path, CODEC).prepare(held, now)
    assert fixed.unmapped == [] and fixed.dlq == [] and fixed.event_ids == [event_id]
    record = CODEC.decode(fixed.raw[0][1], expect=CONTACT_EVENT)[1]
    assert record["unmapped_responses"] == []
    assert [r["question_id"] for r in record["responses"]] == ["2020VotePPE", "Volunteer"]
    assert int(record["received_at"].timestamp() * 1000) == RECEIVED_MS


def test_a_letter_of_a_source_no_longer_configured_is_skipped(tmp_path: Path) -> None:
    from producers.replay import replay

    held, _ = first_letter(van_source(codes_file(tmp_path / "c.yaml", learned=False)))

    sent: list[str] = []
    readmitter = Readmitter({}, tmp_path, CODEC)
    [result] = replay([held], readmitter, Writer(sent), _topics(), RECEIVED_MS)  # type: ignore[arg-type]
    assert result.status == SKIPPED and "no longer in sources.yaml" in result.detail
    assert sent == []


class Writer:
    """Records what a replay sends (the topics), in place of Kafka."""

    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append(topic)

    def poll(self, _t: float = 0) -> None: ...

    def flush(self, **_: Any) -> None: ...


def _topics() -> Any:
    from core.settings import TopicNames

    return TopicNames()


def test_replay_says_what_became_of_each_letter(tmp_path: Path) -> None:
    from producers.replay import replay

    codes = codes_file(tmp_path / "codes.yaml", learned=False)
    held, _ = first_letter(van_source(codes))
    unknown_result = HeldLetter(
        "k2", "", "gateway", "gateway:van-app", RECEIVED_MS,
        orjson.dumps({"path": "/v4/people/1/canvassResponses", "body": {"resultCodeId": 9999,
                      "canvassContext": {"contactTypeId": 2}}}),
    )  # fmt: skip
    sent: list[str] = []
    readmitter = Readmitter({"van-app": van_source(codes)}, tmp_path, CODEC)
    results = replay([held, unknown_result], readmitter, Writer(sent), _topics(), RECEIVED_MS)  # type: ignore[arg-type]
    assert [r.status for r in results] == [PARTIAL, HELD]
    assert "555001" in results[0].detail and "9999" in results[1].detail
    assert sent == ["contacts.raw", "contacts.dlq", "contacts.dlq"]
    codes_file(codes, learned=True)
    sent.clear()
    readmitter = Readmitter({"van-app": van_source(codes)}, tmp_path, CODEC)
    [again] = replay([held], readmitter, Writer(sent), _topics(), RECEIVED_MS)  # type: ignore[arg-type]
    assert again.status == SENT and sent == ["contacts.raw"]


def test_an_import_row_is_read_through_its_recorded_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "id_columns: [id]\ncolumns: {occurred_at: at, result: outcome, person.van_id: van}\n"
        "values: {result: {T: canvassed}}\nconstants: {channel: door, campaign_id: c}\n"
    )
    spec = import_spec("csv", "csv", "export.csv-00000000", source_system="door-app",
                       org_id="o", mapping=mapping)  # fmt: skip
    cp.save(cp.default_path(tmp_path, spec["name"]), cp.Checkpoint(source=spec["name"], spec=spec))
    row = {"id": "7", "at": "2026-11-02T10:00:00Z", "outcome": "NH", "van": "5"}
    letter = HeldLetter("e", "e", "gateway", f"import:{spec['name']}", RECEIVED_MS,
                        orjson.dumps(row))  # fmt: skip
    held = Readmitter({}, tmp_path, CODEC).prepare(letter, RECEIVED_MS)
    assert held.raw == [] and held.unmapped[0].reason_code == "unknown_result_code"
    mapping.write_text(
        mapping.read_text().replace("{T: canvassed}", "{T: canvassed, NH: not_home}")
    )
    landed = Readmitter({}, tmp_path, CODEC).prepare(letter, RECEIVED_MS)
    record = CODEC.decode(landed.raw[0][1], expect=CONTACT_EVENT)[1]
    assert record["result"] == "not_home" and record["source_system"] == "door-app"


def test_a_stream_refused_event_is_sent_as_it_was(tmp_path: Path) -> None:
    event = {
        "source_system": "spoke", "source_event_id": "9", "org_id": "o", "campaign_id": "new",
        "channel": "text", "occurred_at": "2026-11-02T10:00:00Z", "person": {"van_id": "1"},
        "result": "texted", "result_raw": "sent",
    }  # fmt: skip
    record, _ = ContactJson().convert(event, RECEIVED_MS)
    assert record is not None
    raw = CODEC.encode(CONTACT_EVENT, record)
    letter = HeldLetter(record["event_id"], record["event_id"], "validate", "contacts.raw", 0, raw)
    prepared = Readmitter({}, tmp_path, CODEC).prepare(letter, RECEIVED_MS + 5)
    assert prepared.raw == [(record["event_id"].encode(), raw)]  # byte for byte the same


@st.composite
def contact_events(draw: st.DrawFn) -> dict[str, Any]:
    text = st.text(min_size=1, max_size=12)
    event: dict[str, Any] = {
        "source_system": draw(text), "source_event_id": draw(text), "org_id": draw(text),
        "campaign_id": draw(text), "channel": "door", "result": "canvassed",
        "result_raw": draw(text),
        "occurred_at": draw(st.integers(946_684_800_000, 4_000_000_000_000)),  # from 2000
        "person": {"van_id": draw(text)},
        "responses": draw(st.lists(st.fixed_dictionaries(
            {"question_id": text, "answer": text, "support_level": st.none() | st.integers(1, 5)}
        ), max_size=3)),
        "unmapped_responses": draw(st.lists(st.fixed_dictionaries(
            {"question": text, "answer": text, "reason_code": text}), max_size=2)),
        "opt_out": draw(st.booleans()),
        "script_completed": draw(st.none() | st.booleans()),
    }  # fmt: skip
    return event


@settings(max_examples=200, deadline=None)
@given(contact_events(), st.integers(4_000_000_000_000, 4_100_000_000_000))  # received after
def test_record_json_gives_back_the_same_record(event: dict[str, Any], received: int) -> None:
    record, problems = ContactJson().convert(event, received)
    assert problems == [] and record is not None
    decoded = CODEC.decode(CODEC.encode(CONTACT_EVENT, record), expect=CONTACT_EVENT)[1]
    again, problems = ContactJson().convert(record_json(decoded), received)
    assert problems == [] and again is not None
    assert CODEC.encode(CONTACT_EVENT, again) == CODEC.encode(CONTACT_EVENT, record)


@pytest.mark.parametrize("origin", ["gateway:van-app", "import:x"])
def test_a_letter_that_is_not_json_is_skipped(tmp_path: Path, origin: str) -> None:
    from core.errors import FieldstreamError

    codes = codes_file(tmp_path / "c.yaml", learned=False)
    letter = HeldLetter("k", "", "gateway", origin, RECEIVED_MS, b"\x00not json")
    with pytest.raises(FieldstreamError):
        Readmitter({"van-app": van_source(codes)}, tmp_path, CODEC).prepare(letter, RECEIVED_MS)


def test_an_osdi_letter_keeps_its_path_and_lands_once_its_status_code_is_mapped(
    tmp_path: Path,
) -> None:
    body = orjson.loads(
        (Path(__file__).parents[1] / "data" / "osdi" / "van_osdi_not_home.json").read_bytes()
    )
    kept = {"path": "/osdi/van-osdi/people/8675309/record_canvass_helper", "body": body}

    def source(**options: Any) -> SourceConfig:
        return SourceConfig.model_validate(
            {"id": "van-osdi", "org_id": "o", "secrets": ["k"], "tool": "osdi",
             "campaign_id": "c", "options": options}
        )  # fmt: skip

    letter = HeldLetter("k", "", "gateway", "gateway:van-osdi", RECEIVED_MS, orjson.dumps(kept))
    held = Readmitter({"van-osdi": source()}, tmp_path, CODEC).prepare(letter, RECEIVED_MS)
    assert held.raw == [] and "status_codes" in held.unmapped[0].reason
    mapped = source(status_codes={"1": "not_home"})
    landed = Readmitter({"van-osdi": mapped}, tmp_path, CODEC).prepare(letter, RECEIVED_MS)
    [(_, value)] = landed.raw
    record = CODEC.decode(value, expect=CONTACT_EVENT)[1]
    assert record["result"] == "not_home" and record["person"]["van_id"] == "8675309"
    assert (
        landed.event_ids == [d.decode() for d, _ in landed.raw]
        and held.unmapped[0].source_event_id == record["source_event_id"]
    )


@pytest.mark.parametrize(("status", "state"), [(None, "pending"), (204, "passed")])
def test_a_replayed_van_contact_keeps_what_the_write_back_needs(
    tmp_path: Path, status: int | None, state: str
) -> None:
    """Posted to VAN by the write-back when VAN never had it; never again after a pass-through
    gave it to VAN (the verdict rides in the dead letter)."""
    from sinks.writeback.config import OrgWriteback
    from sinks.writeback.decide import decide

    codes = codes_file(tmp_path / "c.yaml", learned=True)
    kept = dict(KEPT, mode=1, pass_through_status=status, pass_through_error=None)
    letter = HeldLetter("k", "", "gateway", "gateway:van-app", RECEIVED_MS, orjson.dumps(kept))
    prepared = Readmitter({"van-app": van_source(codes)}, tmp_path, CODEC).prepare(letter, 0)
    record = CODEC.decode(prepared.raw[0][1], expect=CONTACT_EVENT)[1]
    request = record["van_request"]
    assert request["person"] == "8675309" and request["mode"] == 1
    assert orjson.loads(request["body"]) == KEPT["body"]
    assert request["pass_through_status"] == status
    entry = decide({"contact": record}, {"o": OrgWriteback(org_id="o", app_name="app")})
    assert entry is not None
    assert entry.state == state  # pending: the write-back posts it; passed: VAN has it
