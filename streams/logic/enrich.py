"""Attach voter-file demographics to an accepted contact (an EnrichedContact record).

:func:`enriched_record` builds the record; :class:`EnrichedEncoder` encodes it. Encoding is
the most expensive step of the stage (a full Avro encode of contact and voter), and both
are already Avro bodies on the wire: an EnrichedContact is the contact's body, the match
flag, the union branch, the voter's body and the timestamp, back to back. So when the
contact and the voter were written in single-object encoding with exactly this project's
schemas, the encoder splices their bodies instead of re-encoding. It checks at start that a
splice equals the codec's own encoding, and falls back to the codec for anything else
(Confluent framing, another schema, trailing bytes).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from fastavro import schemaless_reader

from core.errors import SchemaError
from schemas import CONTACT_EVENT, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.codec import SINGLE_OBJECT_MAGIC, schema_fingerprint
from schemas.ids import voter_key

Record = dict[str, Any]

_MATCHED = b"\x01\x02"  # voter_matched true, union branch 1 (Voter)
_UNMATCHED = b"\x00\x00"  # voter_matched false, union branch 0 (null)


def person_voter_key(person: Record) -> str | None:
    """The voters-topic key of the person, when the event names a state voter id."""
    voter_id, state = person.get("voter_id"), person.get("state")
    if not voter_id or not state:
        return None
    return voter_key(state, voter_id)


def enriched_record(
    contact: Record, voter: Record | None, enriched_at: dt.datetime | int
) -> Record:
    """The EnrichedContact for ``contact``; unmatched people get ``voter_matched`` False.

    Unmatched contacts are still counted downstream, with demographics unknown.
    """
    return {
        "contact": contact,
        "voter_matched": voter is not None,
        "voter": voter,
        "enriched_at": enriched_at,
    }


def zigzag_long(n: int) -> bytes:
    """Avro's binary encoding of a long."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def read_exact(raw: bytes, header: bytes, schema: dict[str, Any]) -> Record | None:
    """Decode ``raw`` if it is ``header`` + one complete body of ``schema`` and nothing else.

    Returns None for another header or trailing bytes; raises SchemaError for a corrupt body.
    """
    if raw[: len(header)] != header:
        return None
    buf = io.BytesIO(raw)
    buf.seek(len(header))
    try:
        record = schemaless_reader(buf, schema, schema)
    except (EOFError, ValueError, IndexError, UnicodeDecodeError, StopIteration) as exc:
        raise SchemaError(f"corrupt {schema.get('name', 'Avro')} record: {exc}") from exc
    if buf.tell() != len(raw) or not isinstance(record, dict):
        return None
    return record


class EnrichedEncoder:
    """Decodes contacts and encodes EnrichedContacts, splicing bodies when that is exact."""

    def __init__(self, codec: AvroCodec) -> None:
        self.codec = codec
        self._contact_schema = codec.schema(CONTACT_EVENT)
        self.contact_header = SINGLE_OBJECT_MAGIC + schema_fingerprint(self._contact_schema)
        self.voter_header = SINGLE_OBJECT_MAGIC + schema_fingerprint(codec.schema(VOTER))
        self._out_header = SINGLE_OBJECT_MAGIC + schema_fingerprint(codec.schema(ENRICHED_CONTACT))
        self.splicing = False
        self.splicing = self._splice_matches_codec()

    def decode_contact(self, raw: bytes) -> tuple[Record, bytes | None]:
        """``(record, raw if its body can be spliced else None)``; SchemaError if undecodable."""
        record = read_exact(raw, self.contact_header, self._contact_schema)
        if record is not None:
            return record, raw
        return self.codec.decode(raw, expect=CONTACT_EVENT)[1], None

    def encode(
        self, contact_raw: bytes | None, contact: Record, voter_raw: bytes | None, at_ms: int
    ) -> bytes:
        """Encode the EnrichedContact of ``contact`` and the voter bytes (None: unmatched).

        ``contact_raw`` is the contact's original bytes when :meth:`decode_contact` found them
        spliceable; ``voter_raw`` is a Voter as stored by the voter directory.
        """
        vh = self.voter_header
        if (
            self.splicing
            and contact_raw is not None
            and (voter_raw is None or voter_raw[: len(vh)] == vh)
        ):
            body = contact_raw[len(self.contact_header) :]
            stamp = zigzag_long(at_ms)
            if voter_raw is None:
                return b"".join((self._out_header, body, _UNMATCHED, stamp))
            return b"".join((self._out_header, body, _MATCHED, voter_raw[len(vh) :], stamp))
        voter = self.codec.decode(voter_raw, expect=VOTER)[1] if voter_raw is not None else None
        return self.codec.encode(ENRICHED_CONTACT, enriched_record(contact, voter, at_ms))

    def _splice_matches_codec(self) -> bool:
        """Whether splicing gives byte for byte what the codec writes (checked once)."""
        contact: Record = {
            "event_id": "00000000-0000-4000-8000-000000000000",
            "source_system": "s",
            "source_event_id": "1",
            "org_id": "o",
            "campaign_id": "c",
            "channel": "door",
            "contact_type": "walk",
            "input_method": "other",
            "occurred_at": 1_700_000_000_000,
            "received_at": 1_700_000_000_000,
            "person": {"voter_id": "1", "state": "ZZ"},
            "result": "canvassed",
            "result_raw": "c",
            "responses": [{"question_id": "q", "answer": "a", "support_level": 1}],
        }
        voter: Record = {"voter_id": "1", "state": "ZZ", "age": 40, "updated_at": 0}
        try:
            contact_raw = self.codec.encode(CONTACT_EVENT, contact)
            voter_raw = self.codec.encode(VOTER, voter)
            spliceable = self.decode_contact(contact_raw)[1]
            if spliceable is None:
                return False
            self.splicing = True
            for v_raw in (voter_raw, None):
                decoded_voter = self.codec.decode(v_raw, expect=VOTER)[1] if v_raw else None
                want = self.codec.encode(
                    ENRICHED_CONTACT,
                    enriched_record(self.decode_contact(contact_raw)[0], decoded_voter, -5),
                )
                if self.encode(spliceable, contact, v_raw, -5) != want:
                    return False
            return True
        except SchemaError:
            return False
        finally:
            self.splicing = False
