"""The stream worker (`python -m streams`) on real Tansu: enrich, dead-letter, dedupe, restart.

Voters go on their topic first; the worker runs as a subprocess with the same FIELDSTREAM_*
settings production reads; good, duplicate and bad events go to contacts.raw; the outputs are
read back and checked one by one. Then the worker is restarted and an already-seen event is
sent again: the dedupe table, recovered from its changelog, still drops it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from fieldstream.config import OrgConfig, write_programs
from fieldstream.embedded import free_port
from fieldstream.kafka import ensure_topics, producer_config
from fieldstream.settings import KafkaSettings, Settings
from fieldstream.stack import settings_env
from schemas import CONTACT_EVENT, DEAD_LETTER, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.ids import event_id_for, voter_key

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CODEC = AvroCodec()
RACES = ["white", "black", "latino", "asian"]
SEXES = ["female", "male"]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def voter(i: int) -> dict[str, Any]:
    return {
        "voter_id": f"V{i}",
        "state": "ZZ",
        "precinct": f"P{i % 3}",
        "age": 20 + i,
        "sex": SEXES[i % 2],
        "race": RACES[i % 4],
        "race_source": "self_reported",
        "updated_at": 0,
    }


def event(n: int, voter_id: str = "V0", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": event_id_for("org-a", "test", str(n)),
        "source_system": "test",
        "source_event_id": str(n),
        "org_id": "org-a",
        "campaign_id": "gotv",
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": NOW - dt.timedelta(minutes=n % 50),
        "received_at": NOW,
        "person": {"voter_id": voter_id, "state": "ZZ"},
        "result": "canvassed",
        "result_raw": "canvassed",
        "responses": [{"question_id": "support", "answer": "x", "support_level": 1 + n % 5}],
    }
    record.update(changes)
    return record


BAD: list[tuple[str, dict[str, Any]]] = [
    ("unknown_org", {"org_id": "org-zzz"}),
    ("unknown_campaign", {"campaign_id": "no-such-campaign"}),
    ("future_occurred_at", {"occurred_at": NOW + dt.timedelta(days=2)}),
    ("responses_without_contact", {"result": "not_home"}),
    ("result_channel_mismatch", {"result": "texted", "responses": []}),
    ("bad_support_level", {"responses": [{"question_id": "q", "answer": "a", "support_level": 7}]}),
    ("missing_person", {"person": {"voter_id": None, "state": None}}),
]


class Worker:
    """``python -m streams`` as a subprocess with the test's settings."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.stream.web_host}:{self.settings.stream.web_port}"

    def start(self, timeout_s: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
        env.update(settings_env(self.settings), PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited: {self.log_path.read_text()[-3000:]}"
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=1.0)
                if r.status_code == 200:
                    assert r.json()["ready"] is True
                    return
                assert r.status_code == 503
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            f"worker not ready in {timeout_s}s: {self.log_path.read_text()[-3000:]}"
        )

    def metrics_text(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text

    def metric(self, name: str) -> float:
        total = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_until(check: Any, timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) on ``topic``, read to the end of each partition."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "test-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        pending, out = set(parts), []
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for m in c.consume(1000, 0.2):
                err, value = m.error(), m.value()
                if err is None and value is not None:
                    out.append((m.key(), value))
                elif err is not None and err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
        assert not pending, f"could not read {topic} to its end"
        return out
    finally:
        c.close()


@pytest.fixture
def settings(tmp_path: Path, kafka_settings: KafkaSettings) -> Settings:
    programs = tmp_path / "programs.yaml"
    write_programs(programs, [OrgConfig(id="org-a", campaigns=["gotv"])])
    s = Settings(data_dir=tmp_path / "data", kafka=kafka_settings, log_level="INFO")
    s.stream.programs_file = programs
    s.stream.web_port = free_port()
    s.stream.app_id = f"stream-test-{uuid.uuid4().hex[:8]}"
    s.stream.session_timeout_s = 3.0
    ensure_topics(s.kafka)
    return s


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(settings, tmp_path / "stream.log")
    try:
        yield w
    finally:
        w.stop()


def produce(p: Producer, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    for key, value in records:
        p.produce(topic, value=value, key=key)
    assert p.flush(30) == 0


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
