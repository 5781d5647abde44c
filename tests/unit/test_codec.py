"""The codec: both Avro framings, told apart by the first byte."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastavro.schema import to_parsing_canonical_form

from core.errors import SchemaError
from schemas import CONTACT_EVENT, DEAD_LETTER, VOTER, AvroCodec, load_schemas


def contact(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "source_system": "simulator",
        "source_event_id": "e-1",
        "org_id": "demo-org",
        "campaign_id": "gotv-2026",
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": 1_790_000_000_000,
        "received_at": 1_790_000_001_000,
        "person": {"voter_id": "ZZ1", "state": "ZZ"},
        "result": "canvassed",
        "result_raw": "14",
        "responses": [{"question_id": "q1", "answer": "yes", "support_level": 2}],
    }
    rec.update(over)
    return rec


def spec_fingerprint64(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification writes it (independent of fastavro)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


class DictRegistry:
    """A schema registry held in a dict: the codec's registry protocol, nothing else."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.schemas: dict[int, dict[str, Any]] = {}

    def id_for(self, full_name: str, schema: dict[str, Any]) -> int:
        sid = self.ids.setdefault(full_name, 100 + len(self.ids))
        self.schemas[sid] = schema
        return sid

    def schema_for(self, schema_id: int) -> dict[str, Any]:
        return self.schemas[schema_id]


def test_single_object_header_is_the_spec_fingerprint() -> None:
    codec = AvroCodec()
    data = codec.encode(CONTACT_EVENT, contact())
    canonical = to_parsing_canonical_form(load_schemas()[CONTACT_EVENT]).encode()
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == spec_fingerprint64(canonical).to_bytes(8, "little")


def test_round_trip_single_object() -> None:
    codec = AvroCodec()
    rec = contact()
    name, back = codec.decode(codec.encode(CONTACT_EVENT, rec))
    assert name == CONTACT_EVENT
    assert str(back["event_id"]) == rec["event_id"]
    assert back["occurred_at"] == dt.datetime.fromtimestamp(1_790_000_000, dt.UTC)
    assert back["responses"][0]["support_level"] == 2
    assert back["person"]["van_id"] is None  # defaults filled


def test_reader_accepts_confluent_framing_too() -> None:
    registry = DictRegistry()
    writer = AvroCodec(registry=registry)
    data = writer.encode(CONTACT_EVENT, contact())
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == registry.ids[CONTACT_EVENT]
    reader = AvroCodec(registry=registry)
    name, back = reader.decode(data)
    assert name == CONTACT_EVENT and back["org_id"] == "demo-org"
    # and the same reader still reads single-object bytes
    assert reader.decode(AvroCodec().encode(CONTACT_EVENT, contact()))[0] == CONTACT_EVENT


def test_confluent_bytes_without_registry_are_refused_clearly() -> None:
    data = AvroCodec(registry=DictRegistry()).encode(CONTACT_EVENT, contact())
    with pytest.raises(SchemaError, match="no schema registry"):
        AvroCodec().decode(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an Avro-framed record"),
        (b'{"json": true}', "not an Avro-framed record"),
        (b"\xc3\x01" + b"\x00" * 8 + b"abc", "unknown schema fingerprint"),
    ],
)
def test_garbage_is_a_schema_error(data: bytes, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        AvroCodec().decode(data)


def test_truncated_record_is_a_schema_error() -> None:
    data = AvroCodec().encode(CONTACT_EVENT, contact())
    with pytest.raises(SchemaError, match="corrupt"):
        AvroCodec().decode(data[:30])


def test_expect_refuses_another_record_type() -> None:
    codec = AvroCodec()
    voter = {"voter_id": "1", "state": "ZZ", "updated_at": 0}
    with pytest.raises(SchemaError, match="expected a"):
        codec.decode(codec.encode(VOTER, voter), expect=CONTACT_EVENT)


def test_record_that_does_not_fit_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="does not fit"):
        AvroCodec().encode(CONTACT_EVENT, contact(channel="carrier-pigeon"))


def test_dead_letter_keeps_original_bytes() -> None:
    codec = AvroCodec()
    original = b"\x00\xffnot avro"
    dl = {
        "original": original,
        "reason": "x",
        "reason_code": "decode",
        "stage": "decode",
        "source_topic": "contacts.raw",
        "source_partition": 0,
        "source_offset": 5,
        "failed_at": 0,
    }
    assert codec.decode(codec.encode(DEAD_LETTER, dl))[1]["original"] == original


def test_trailing_bytes_are_a_schema_error() -> None:
    data = AvroCodec().encode(CONTACT_EVENT, contact())
    with pytest.raises(SchemaError, match="after the record's end"):
        AvroCodec().decode(data + b"\x00")
