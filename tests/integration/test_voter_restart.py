"""The RocksDB voter store across restarts, on real Tansu.

A stream worker (``python -m streams``) with ``stream.voter_store=rocksdb`` enriches contacts,
is killed (SIGKILL, no shutdown), voters change, one is deleted and new ones arrive; the
restarted worker resumes from the offsets stored with the voters (it applies only the changes,
counted from its log line) and enrichment continues: the same results for unchanged voters,
the new values for changed ones. Then the directory alone: a store whose offsets are past the
end of the topic, or that was read from another topic, starts over from the beginning.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from core.kafka import producer_config
from core.settings import KafkaSettings, Settings
from schemas import CONTACT_EVENT, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.ids import voter_key
from streams.voters import RocksVoterStore, VoterDirectory
from tests.factories.records import event, voter
from tests.factories.stream import Worker, produce, read_all, stream_settings, wait_until

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
CAUGHT_UP = re.compile(
    r"voter directory caught up with \S+: (\d+) voters, (\d+) records applied in [\d.]+s "
    r"\((resumed from stored offsets|read from the beginning)\)"
)
Pairs = list[tuple[bytes | None, bytes | None]]


def vrec(i: int, **changes: Any) -> tuple[bytes | None, bytes | None]:
    return voter_key("ZZ", f"V{i}").encode(), CODEC.encode(VOTER, dict(voter(i), **changes))


@pytest.fixture
def settings(tmp_path: Path, kafka_settings: KafkaSettings) -> Settings:
    return stream_settings(
        tmp_path,
        kafka_settings,
        "voter-restart",
        voter_store="rocksdb",
        voter_store_path=tmp_path / "voters.rocksdb",
    )


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(settings, tmp_path / "stream.log")
    try:
        yield w
    finally:
        w.stop()


def kill(worker: Worker) -> None:
    """SIGKILL the worker's process group: no shutdown hook, no flush, no close."""
    assert worker.proc is not None
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(10)
    worker.proc = None


def enrich(settings: Settings, p: Producer, first: int, voter_ids: list[str]) -> dict[str, Any]:
    """Send one event per voter id; return the voter part of each enriched output by id."""
    events = [event(first + n, vid) for n, vid in enumerate(voter_ids)]
    produce(
        p,
        settings.kafka.topics.raw,
        [(e["event_id"].encode(), CODEC.encode(CONTACT_EVENT, e)) for e in events],
    )
    wanted = {e["event_id"].encode(): vid for e, vid in zip(events, voter_ids, strict=True)}
    out: dict[str, Any] = {}

    def all_out() -> bool:
        kafka = settings.kafka
        for key, value in read_all(kafka.bootstrap_servers, kafka.topics.enriched):
            if key in wanted:
                rec = CODEC.decode(value, expect=ENRICHED_CONTACT)[1]
                out[wanted[key]] = rec["voter"] if rec["voter_matched"] else None
        return len(out) == len(wanted)

    wait_until(all_out, what="every event enriched")
    return out


def caught_up_lines(log_path: Path) -> list[tuple[int, int, str]]:
    return [(int(v), int(a), how) for v, a, how in CAUGHT_UP.findall(log_path.read_text())]


def test_worker_resumes_from_stored_offsets_after_a_kill(
    settings: Settings, worker: Worker
) -> None:
    topics = settings.kafka.topics
    p = Producer(producer_config(settings.kafka))
    produce(p, topics.voters, [vrec(i) for i in range(200)])

    worker.start()
    ids = [f"V{i}" for i in range(10)]
    before = enrich(settings, p, 0, ids)
    for i, vid in enumerate(ids):
        got, want = before[vid], voter(i)
        assert (got["race"], got["age"], got["sex"]) == (want["race"], want["age"], want["sex"])
    assert caught_up_lines(worker.log_path) == [(200, 200, "read from the beginning")]

    kill(worker)
    changes: Pairs = [vrec(i, race="other", age=99) for i in range(3)]  # V0..V2 change
    changes.append((voter_key("ZZ", "V5").encode(), None))  # V5 leaves the file
    changes += [vrec(i) for i in range(200, 205)]  # five new voters
    produce(p, topics.voters, changes)

    worker.start()
    lines = caught_up_lines(worker.log_path)
    assert len(lines) == 2
    # only the changes were read again, not the 200 voters before them
    assert lines[1] == (200 - 1 + 5, len(changes), "resumed from stored offsets")

    after = enrich(settings, p, 1000, ids + [f"V{i}" for i in range(200, 205)])
    for i in range(3):
        assert after[f"V{i}"] == dict(before[f"V{i}"], race="other", age=99)
    assert after["V5"] is None
    for i in (3, 4, 6, 7, 8, 9):
        assert after[f"V{i}"] == before[f"V{i}"]
    for i in range(200, 205):
        assert after[f"V{i}"] is not None and after[f"V{i}"]["age"] == voter(i)["age"]


def read_directory(settings: Settings, store: RocksVoterStore) -> VoterDirectory:
    d = VoterDirectory(
        {"bootstrap.servers": settings.kafka.bootstrap_servers},
        settings.kafka.topics.voters,
        CODEC,
        store,
    )
    d.start()
    assert d.wait_caught_up(60), "the directory did not catch up"
    d.stop()
    return d


def test_directory_starts_over_when_the_stored_offsets_do_not_fit_the_topic(
    settings: Settings, tmp_path: Path
) -> None:
    p = Producer(producer_config(settings.kafka))
    produce(p, settings.kafka.topics.voters, [vrec(i) for i in range(50)])
    store = RocksVoterStore(tmp_path / "direct.rocksdb")
    try:
        first = read_directory(settings, store)
        assert (first.applied, first.started_over, len(store)) == (50, 0, 50)
        again = read_directory(settings, store)
        assert (again.applied, again.started_over, len(store)) == (0, 0, 50)

        # offsets past the end of a partition (a recreated topic, shorter than the last one);
        # Tansu answers such a fetch with nothing at all: the fetch's watermark tells
        partition = next(iter(store.offsets()))
        store.apply([("ZZ:stale", CODEC.encode(VOTER, voter(999)))], {partition: 10_000})
        third = read_directory(settings, store)
        assert (third.started_over, third.applied, len(store)) == (1, 50, 50)
        assert store.get("ZZ:stale") is None

        # a store read from another topic
        name, topic_id = store.source()
        assert name == settings.kafka.topics.voters and topic_id
        store.reset("voters.some-other-topic", topic_id)
        store.apply([("ZZ:stale", b"x")], {partition: 1})
        fourth = read_directory(settings, store)
        assert (fourth.started_over, fourth.applied, len(store)) == (1, 50, 50)
        assert store.get("ZZ:stale") is None and store.source()[0] == name
    finally:
        store.close()
