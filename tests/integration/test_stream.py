"""The stream worker (`python -m streams`) on real Tansu: enrich, dead-letter, dedupe, restart.

Voters go on their topic first; the worker runs as a subprocess with the same FIELDSTREAM_*
settings production reads; good, duplicate and bad events go to contacts.raw; the outputs are
read back and checked one by one. Then the worker is restarted and an already-seen event is
sent again: the dedupe table, recovered from its changelog, still drops it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from core.kafka import producer_config
from core.settings import KafkaSettings, Settings
from schemas import CONTACT_EVENT, DEAD_LETTER, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.ids import event_id_for, voter_key
from tests.factories.records import NOW, event, voter
from tests.factories.stream import Worker, produce, read_all, stream_settings, wait_until

pytestmark = pytest.mark.integration

CODEC = AvroCodec()


BAD: list[tuple[str, dict[str, Any]]] = [
    ("unknown_org", {"org_id": "org-zzz"}),
    ("unknown_campaign", {"campaign_id": "no-such-campaign"}),
    ("future_occurred_at", {"occurred_at": NOW + dt.timedelta(days=2)}),
    ("responses_without_contact", {"result": "not_home"}),
    ("result_channel_mismatch", {"result": "texted", "responses": []}),
    ("bad_support_level", {"responses": [{"question_id": "q", "answer": "a", "support_level": 7}]}),
    ("missing_person", {"person": {"voter_id": None, "state": None}}),
]


@pytest.fixture
def settings(tmp_path: Path, kafka_settings: KafkaSettings) -> Settings:
    return stream_settings(tmp_path, kafka_settings, "stream-test")


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(settings, tmp_path / "stream.log")
    try:
        yield w
    finally:
        w.stop()


def test_enrich_dead_letter_dedupe_and_restart(settings: Settings, worker: Worker) -> None:
    kafka, topics = settings.kafka, settings.kafka.topics
    p = Producer(producer_config(kafka))

    # voters: V0..V19; V19 is then deleted; VBAD has bytes after its body (skipped at load)
    vrecords: list[tuple[bytes | None, bytes | None]] = [
        (voter_key("ZZ", f"V{i}").encode(), CODEC.encode(VOTER, voter(i))) for i in range(20)
    ]
    vrecords.append((voter_key("ZZ", "V19").encode(), None))
    vrecords.append((voter_key("ZZ", "VBAD").encode(), CODEC.encode(VOTER, voter(99)) + b"!"))
    produce(p, topics.voters, vrecords)

    worker.start()

    # 30 good events on V0..V29 (V19..V29 and VBAD not on the file), 10 of them sent twice
    good = {n: event(n, f"V{n}") for n in range(30)}
    good[29] = event(29, "VBAD")
    bad = {
        event_id_for("org-a", "test", str(100 + i)): (code, event(100 + i, "V1", **changes))
        for i, (code, changes) in enumerate(BAD)
    }
    raw: list[tuple[bytes | None, bytes | None]] = []
    for ev in list(good.values()) + [ev for _, ev in bad.values()]:
        raw.append((ev["event_id"].encode(), CODEC.encode(CONTACT_EVENT, ev)))
    raw += [raw[n] for n in range(0, 20, 2)]  # exact duplicates, often in the same batch
    garbage_id = str(uuid.uuid4())
    raw.append((garbage_id.encode(), b"\xc3\x01not-avro"))
    produce(p, topics.raw, raw)

    wait_until(
        lambda: worker.metric("fieldstream_stream_events_in_total") >= len(raw),
        what="the worker to read every raw event",
    )
    enriched = [
        CODEC.decode(v, expect=ENRICHED_CONTACT)[1]
        for _, v in read_all(kafka.bootstrap_servers, topics.enriched)
    ]
    by_id = Counter(str(e["contact"]["event_id"]) for e in enriched)
    assert by_id == Counter({ev["event_id"]: 1 for ev in good.values()})  # each exactly once
    for rec in enriched:
        n = int(rec["contact"]["source_event_id"])
        if n < 19:
            want = voter(n)
            assert rec["voter_matched"] is True
            got = rec["voter"]
            assert (got["race"], got["sex"], got["age"], got["precinct"]) == (
                want["race"],
                want["sex"],
                want["age"],
                want["precinct"],
            )
        else:  # deleted, never on the file, or a bad voter record
            assert rec["voter_matched"] is False and rec["voter"] is None

    letters = [
        CODEC.decode(v, expect=DEAD_LETTER)[1]
        for _, v in read_all(kafka.bootstrap_servers, topics.dlq)
    ]
    by_event = {d["event_id"]: d for d in letters}
    assert len(letters) == len(bad) + 1
    for eid, (code, ev) in bad.items():
        letter = by_event[eid]
        assert (letter["reason_code"], letter["stage"]) == (code, "validate")
        assert letter["original"] == CODEC.encode(CONTACT_EVENT, ev)
        assert letter["source_topic"] == topics.raw and letter["reason"]
    assert (by_event[garbage_id]["stage"], by_event[garbage_id]["reason_code"]) == (
        "decode",
        "undecodable",
    )

    assert worker.metric("fieldstream_stream_duplicates_dropped_total") == 10
    assert worker.metric("fieldstream_stream_enriched_total") == len(good)
    assert worker.metric('fieldstream_stream_dlq_total{reason_code="unknown_campaign"}') == 1
    assert worker.metric('fieldstream_stream_unmatched_voters_total{source_system="test"}') == 11
    # every raw event processed: the lag gauge (refreshed every 5s) reads 0 on each partition
    lag = [
        f'fieldstream_stream_consumer_lag{{partition="{p}",topic="{topics.raw}"}}' for p in (0, 1)
    ]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(f"{g} 0.0" in worker.metrics_text() for g in lag):
        time.sleep(0.5)
    assert all(f"{g} 0.0" in worker.metrics_text() for g in lag), worker.metrics_text()[-2000:]

    # restart: the dedupe table comes back from its changelog
    worker.stop()
    worker.start()
    seen = good[3]
    resent: list[Any] = []
    p.produce(
        topics.raw,
        key=seen["event_id"].encode(),
        value=CODEC.encode(CONTACT_EVENT, seen),
        on_delivery=lambda err, msg: resent.append(msg),
    )
    assert p.flush(30) == 0
    # a new event behind it in the same partition: once it is out, the re-sent one was read
    sentinel = event(500, "V1")
    p.produce(
        topics.raw,
        key=sentinel["event_id"].encode(),
        value=CODEC.encode(CONTACT_EVENT, sentinel),
        partition=resent[0].partition(),
    )
    assert p.flush(30) == 0

    def sentinel_out() -> bool:
        values = read_all(kafka.bootstrap_servers, topics.enriched)
        return any(k == sentinel["event_id"].encode() for k, _ in values)

    wait_until(sentinel_out, what="the sentinel event on the enriched topic")
    keys = Counter(k for k, _ in read_all(kafka.bootstrap_servers, topics.enriched))
    assert keys[seen["event_id"].encode()] == 1
    assert keys[sentinel["event_id"].encode()] == 1
    assert worker.metric("fieldstream_stream_duplicates_dropped_total") >= 1
