"""process_one / process_batch: decode, dedupe, validate, enrich, dead letters; no Kafka."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from core.config import Programs
from schemas import CONTACT_EVENT, DEAD_LETTER, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.ids import event_id_for, voter_key
from streams.logic.enrich import EnrichedEncoder, zigzag_long
from streams.logic.process import (
    DLQ,
    DUPLICATE,
    ENRICHED,
    Context,
    Outcome,
    process_batch,
    process_one,
)
from streams.voters import VoterDirectory

CODEC = AvroCodec()
PROGRAMS = Programs({"org-a": frozenset({"gotv"})})
NOW = dt.datetime(2026, 11, 3, 15, 0, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
VOTER_REC = {
    "voter_id": "V1",
    "state": "PA",
    "county": "Erie",
    "precinct": "P-7",
    "birth_year": 1961,
    "sex": "female",
    "race": "black",
    "race_source": "self_reported",
    "ethnicity": "not_hispanic",
    "ethnicity_source": "self_reported",
    "updated_at": 0,
}


def event(n: int = 1, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": event_id_for("org-a", "van", str(n)),
        "source_system": "van",
        "source_event_id": str(n),
        "org_id": "org-a",
        "campaign_id": "gotv",
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": NOW - dt.timedelta(hours=1),
        "received_at": NOW,
        "person": {"voter_id": "V1", "state": "PA"},
        "result": "canvassed",
        "result_raw": "Canvassed",
        "responses": [{"question_id": "support", "answer": "yes", "support_level": 2}],
    }
    record.update(changes)
    return record


def encoded(n: int = 1, **changes: Any) -> bytes:
    return CODEC.encode(CONTACT_EVENT, event(n, **changes))


def context(seen: set[str] | None = None, voters: dict[str, bytes] | None = None) -> Context:
    if voters is None:
        voters = {voter_key("PA", "V1"): CODEC.encode(VOTER, VOTER_REC)}
    return Context.build(
        codec=CODEC,
        programs=PROGRAMS,
        voter_bytes=voters.get,
        is_seen=(seen if seen is not None else set()).__contains__,
    )


def run(raw: bytes | None, ctx: Context | None = None, key: bytes | None = None) -> Outcome:
    return process_one(raw, key, "contacts.raw", 1, 42, ctx or context(), now=NOW_MS)


def dead(outcome: Outcome) -> dict[str, Any]:
    assert outcome.kind == DLQ and outcome.value is not None
    return CODEC.decode(outcome.value, expect=DEAD_LETTER)[1]


def enriched(outcome: Outcome) -> dict[str, Any]:
    assert outcome.kind == ENRICHED and outcome.value is not None
    return CODEC.decode(outcome.value, expect=ENRICHED_CONTACT)[1]


def test_undecodable_bytes_go_to_the_dlq_with_stage_decode_and_the_original() -> None:
    eid = str(uuid.uuid4())
    garbage = b"\x00\xffnot avro at all"
    letter = dead(run(garbage, key=eid.encode()))
    assert letter["stage"] == "decode"
    assert letter["reason_code"] == "undecodable"
    assert letter["original"] == garbage
    assert letter["event_id"] == eid  # read from the key, since the value is unreadable
    assert letter["org_id"] is None and letter["source_system"] is None
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "contacts.raw",
        1,
        42,
    )
    assert int(letter["failed_at"].timestamp() * 1000) == NOW_MS


def test_a_truncated_event_is_undecodable_and_a_bad_key_is_not_an_event_id() -> None:
    raw = encoded()[:-7]
    out = run(raw, key=b"not-a-uuid")
    letter = dead(out)
    assert (letter["stage"], letter["reason_code"]) == ("decode", "undecodable")
    assert letter["original"] == raw
    assert letter["event_id"] is None
    # no event id: the dead letter is what its bytes are (the same garbage again, the same key)
    assert out.key is not None and out.key.decode() == letter["dead_letter_id"]
    assert letter["dead_letter_id"].startswith("decode:sha256:")
    assert run(raw, key=b"other-key").key == out.key


def test_an_empty_value_is_dead_lettered() -> None:
    letter = dead(run(None))
    assert (letter["stage"], letter["reason_code"], letter["original"]) == (
        "decode",
        "empty_value",
        b"",
    )


def test_another_record_type_on_the_raw_topic_is_undecodable() -> None:
    letter = dead(run(CODEC.encode(VOTER, VOTER_REC)))
    assert letter["reason_code"] == "undecodable"
    assert "ContactEvent" in letter["reason"]


def test_unknown_campaign_is_dead_lettered_with_its_reason() -> None:
    raw = encoded(campaign_id="nope")
    out = run(raw)
    letter = dead(out)
    assert letter["stage"] == "validate"
    assert letter["reason_code"] == "unknown_campaign"
    assert "campaign 'nope' is not a campaign of org 'org-a'" in letter["reason"]
    assert letter["original"] == raw
    assert letter["event_id"] == event()["event_id"]
    assert (letter["org_id"], letter["source_system"]) == ("org-a", "van")
    assert out.key == f"validate:{event()['event_id']}".encode()  # stage and event id


def test_a_matched_contact_carries_the_voter_demographics() -> None:
    out = run(encoded())
    rec = enriched(out)
    assert out.voter_matched and rec["voter_matched"]
    assert out.key == event()["event_id"].encode()
    voter = rec["voter"]
    assert (voter["race"], voter["race_source"], voter["sex"], voter["birth_year"]) == (
        "black",
        "self_reported",
        "female",
        1961,
    )
    assert voter["precinct"] == "P-7"
    assert str(rec["contact"]["event_id"]) == event()["event_id"]
    assert rec["contact"]["responses"][0]["support_level"] == 2
    assert int(rec["enriched_at"].timestamp() * 1000) == NOW_MS


def test_an_unmatched_contact_is_enriched_with_no_voter() -> None:
    out = run(encoded(person={"voter_id": "V999", "state": "PA"}))
    rec = enriched(out)
    assert not out.voter_matched
    assert rec["voter_matched"] is False and rec["voter"] is None


def test_a_contact_without_a_state_voter_id_is_unmatched() -> None:
    rec = enriched(run(encoded(person={"van_id": "123"})))
    assert rec["voter_matched"] is False


def test_the_state_is_matched_case_insensitively() -> None:
    rec = enriched(run(encoded(person={"voter_id": "V1", "state": "pa"})))
    assert rec["voter_matched"] is True


def test_a_seen_event_is_a_duplicate_and_produces_nothing() -> None:
    out = run(encoded(), context(seen={event()["event_id"]}))
    assert out.kind == DUPLICATE and out.value is None


def test_a_batch_drops_repeats_of_an_id_it_accepted_but_dead_letters_repeat_bad_ones() -> None:
    good, bad = encoded(1), encoded(2, campaign_id="nope")
    messages = [(v, None, "raw", 0, i) for i, v in enumerate([good, bad, good, bad, encoded(3)])]
    result = process_batch(messages, context(), now=NOW_MS)
    assert [o.kind for o in result.outcomes] == [ENRICHED, DLQ, DUPLICATE, DLQ, ENRICHED]
    assert result.counts == {ENRICHED: 2, DLQ: 2, DUPLICATE: 1}
    assert result.accepted_ids == [event(1)["event_id"], event(3)["event_id"]]


def test_a_failing_voter_lookup_becomes_an_internal_error_letter_not_an_exception() -> None:
    def broken(key: str) -> bytes | None:
        raise RuntimeError("disk on fire V1")

    ctx = Context.build(CODEC, PROGRAMS, broken, set().__contains__)
    letter = dead(run(encoded(), ctx))
    assert (letter["stage"], letter["reason_code"]) == ("enrich", "internal_error")
    assert "RuntimeError" in letter["reason"] and "V1" not in letter["reason"]


def test_spliced_output_is_byte_identical_to_the_codec_encoding() -> None:
    encoder = EnrichedEncoder(CODEC)
    assert encoder.splicing
    raw, voter_raw = encoded(), CODEC.encode(VOTER, VOTER_REC)
    contact, spliceable = encoder.decode_contact(raw)
    assert spliceable is raw
    voter = CODEC.decode(voter_raw, expect=VOTER)[1]
    for v_raw, v in ((voter_raw, voter), (None, None)):
        want = CODEC.encode(
            ENRICHED_CONTACT,
            {"contact": contact, "voter_matched": v is not None, "voter": v, "enriched_at": NOW_MS},
        )
        assert encoder.encode(spliceable, contact, v_raw, NOW_MS) == want


def test_trailing_bytes_after_an_event_are_undecodable() -> None:
    raw = encoded() + b"junk"
    letter = dead(run(raw))
    assert (letter["stage"], letter["reason_code"]) == ("decode", "undecodable")
    assert letter["original"] == raw


@pytest.mark.parametrize("n", [0, 1, -1, 63, -64, 64, 300, NOW_MS, -(2**63), 2**63 - 1])
def test_zigzag_matches_avro_long_encoding(n: int) -> None:
    # a long is the whole body of an EnrichedContact's last field: compare with the codec
    body = CODEC.encode(
        ENRICHED_CONTACT,
        {"contact": event(), "voter_matched": False, "voter": None, "enriched_at": n},
    )
    assert body.endswith(b"\x00\x00" + zigzag_long(n))


def test_a_bad_voter_record_is_answered_as_not_on_the_file() -> None:
    directory = VoterDirectory({"bootstrap.servers": "127.0.0.1:1"}, "voters", CODEC)
    good, bad = voter_key("PA", "V1"), voter_key("PA", "V2")
    directory.store.put(good, CODEC.encode(VOTER, VOTER_REC))
    directory.store.put(bad, CODEC.encode(VOTER, dict(VOTER_REC, voter_id="V2")) + b"!")
    assert directory.get_bytes(good) == CODEC.encode(VOTER, VOTER_REC)
    assert directory.get_bytes(good) is not None  # checked once, then answered from the store
    assert directory.get_bytes(bad) is None and directory.bad == 1
    ctx = Context.build(CODEC, PROGRAMS, directory.get_bytes, set().__contains__)
    rec = enriched(run(encoded(person={"voter_id": "V2", "state": "PA"}), ctx))
    assert rec["voter_matched"] is False
