"""The ClickHouse sink on real chDB and real Tansu.

* migrations apply twice; the same contact rows inserted twice (different tokens) leave the
  rollup views equal to a recount of distinct events;
* ``python -m sinks`` consumes EnrichedContact records (plus a DeadLetter and an undecodable
  message); producing the same records again leaves every count unchanged; /query refuses
  writes; goals load through the running sink (remote access) and goal_progress is right.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from core.kafka import ensure_topics, producer_config
from core.settings import ClickHouseSettings, KafkaSettings, Settings, SinkSettings
from fieldstream.embedded import free_port
from fieldstream.stack import settings_env
from schemas import DEAD_LETTER, ENRICHED_CONTACT, AvroCodec
from sinks.loaders import load_goals
from sinks.migrate import migrate
from sinks.query_tokens import admin_header
from sinks.remote import DirectAccess, HttpSinkAccess, connect_store
from sinks.rows import CONTACT_COLUMNS, contact_row
from sinks.store import LockedStore, open_store
from tests.factories.keeper import keeper_for, settle

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CODEC = AvroCodec()
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
MONDAY = NOW.date() - dt.timedelta(days=NOW.weekday())


def enriched(i: int) -> dict[str, Any]:
    """Event i: every 2nd canvassed, every 4th with an ID; voters repeat (i % 5)."""
    canvassed = i % 2 == 0
    responses = [{"question_id": "q1", "answer": "yes", "support_level": 1 + i % 5}]
    matched = i % 3 != 0
    voter = {
        "voter_id": f"V{i % 5}",
        "state": "PA",
        "precinct": f"P{i % 2}",
        "county": "Erie",
        "age": 20 + i,
        "sex": "female" if i % 2 else "male",
        "race": "black",
        "race_source": "self_reported",
        "updated_at": NOW,
    }
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"sink-test-{i}"),
            "source_system": "sim",
            "source_event_id": str(i),
            "org_id": "org-a",
            "campaign_id": "gotv",
            "channel": "door" if i % 2 else "phone",
            "occurred_at": NOW - dt.timedelta(minutes=i),
            "received_at": NOW,
            "person": {"voter_id": f"V{i % 5}", "state": "PA"},
            "result": "canvassed" if canvassed else "not_home",
            "result_raw": "x",
            "responses": responses if canvassed and i % 4 == 0 else [],
        },
        "voter_matched": matched,
        "voter": voter if matched else None,
        "enriched_at": NOW,
    }


def expected(n: int) -> dict[str, int]:
    recs = [enriched(i)["contact"] for i in range(n)]
    contacts = [c for c in recs if c["result"] == "canvassed"]
    return {
        "attempts": n,
        "contacts": len(contacts),
        "ids": sum(1 for c in contacts if c["responses"]),
        "people_reached": len({c["person"]["voter_id"] for c in contacts}),
    }


RECOUNT = """
SELECT uniqExact(event_id), uniqExactIf(event_id, is_contact = 1),
       uniqExactIf(event_id, has_id = 1),
       uniqExactIf(concat(state, ':', voter_id), is_contact = 1 AND voter_id != '')
FROM contact_events FINAL
"""
ROLLUP = """
SELECT sum(attempts), sum(contacts), sum(ids) FROM contact_progress_daily
WHERE org_id = 'org-a'
"""
GOALS = "SELECT metric, target, actual FROM goal_progress ORDER BY metric"


def write_goals(tmp_path: Path) -> Path:
    path = tmp_path / "goals.csv"
    lines = ["org_id,campaign_id,week,metric,target"]
    lines += [f"org-a,gotv,{MONDAY + dt.timedelta(days=2)},{m},10" for m in expected(1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def goal_actuals(rows: list[list[Any]]) -> dict[str, int]:
    return {str(r[0]): int(r[2]) for r in rows}


def test_migrations_and_rollups_are_exact_under_duplicates(chdb_dsn: str, tmp_path: Path) -> None:
    store = LockedStore(open_store(chdb_dsn))
    try:
        assert len(migrate(store.client)) >= 7
        assert migrate(store.client) == []
        n = 20
        rows = [
            contact_row(CODEC.decode(CODEC.encode(ENRICHED_CONTACT, enriched(i)))[1])
            for i in range(n)
        ]
        store.insert("contact_events", CONTACT_COLUMNS, rows, "t:0:0-19")
        store.insert("contact_events", CONTACT_COLUMNS, rows, "t:0:0-19")  # dropped by token
        store.insert("contact_events", CONTACT_COLUMNS, rows[:7], "t:0:0-6")  # a redelivery
        access = DirectAccess(store)
        assert access.query("SELECT count() FROM contact_events")[1] == [[n + 7]]
        want = expected(n)
        recount = access.query(RECOUNT)[1][0]
        assert recount == [want[m] for m in ("attempts", "contacts", "ids", "people_reached")]
        assert access.query(ROLLUP)[1][0] == recount[:3]
        assert load_goals(access, write_goals(tmp_path)) == 4
        settle(keeper_for(store))  # the sink's keeper finalises what goal_progress reads
        assert goal_actuals(access.query(GOALS)[1]) == want
    finally:
        store.close()


@pytest.fixture
def sink_process(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> Iterator[tuple[Settings, subprocess.Popen[bytes]]]:
    ensure_topics(kafka_settings)
    settings = Settings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        clickhouse=ClickHouseSettings(dsn=f"chdb://{tmp_path / 'chdb'}"),
        sink=SinkSettings(
            group_id=f"sink-{uuid.uuid4().hex[:8]}",
            query_port=free_port(),
            batch_rows=7,
            flush_interval_s=0.1,
            session_timeout_s=4.0,
        ),
    )
    env = {**os.environ, **settings_env(settings)}
    log = open(tmp_path / "sink.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "sinks"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield settings, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows_inserted(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("fieldstream_sink_rows_inserted_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def metric(base: str, series: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_sink_service_is_idempotent_under_redelivery(
    sink_process: tuple[Settings, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    settings, proc = sink_process
    topics = settings.kafka.topics
    base = f"http://{settings.sink.query_host}:{settings.sink.query_port}"

    def healthy() -> bool:
        assert proc.poll() is None, (tmp_path / "sink.log").read_text()
        try:
            return httpx.get(f"{base}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, "the sink's /healthz")
    n = 30
    producer = Producer(producer_config(settings.kafka))
    dead = {
        "original": b"{}",
        "reason": "unknown campaign",
        "reason_code": "unknown_campaign",
        "stage": "validate",
        "source_topic": topics.raw,
        "source_partition": 0,
        "source_offset": 3,
        "failed_at": NOW,
    }

    def produce_all() -> None:
        for i in range(n):
            rec = enriched(i)
            key = str(rec["contact"]["event_id"]).encode()
            producer.produce(topics.enriched, CODEC.encode(ENRICHED_CONTACT, rec), key)
        producer.produce(topics.enriched, b"not avro at all", b"junk")
        producer.produce(topics.dlq, CODEC.encode(DEAD_LETTER, dead), None)
        assert producer.flush(10) == 0

    store = connect_store(settings)
    assert isinstance(store, HttpSinkAccess)
    try:

        def count(sql: str) -> int:
            return int(store.query(sql)[1][0][0])

        produce_all()
        wait_for(lambda: count("SELECT count() FROM contact_events") == n, "contact rows")
        wait_for(lambda: count("SELECT count() FROM dead_letters") == 2, "dead letters")
        stages = store.query(
            "SELECT stage, count() FROM dead_letters GROUP BY stage ORDER BY stage"
        )
        assert stages[1] == [["sink", 1], ["validate", 1]]
        first_total = rows_inserted(base)
        assert first_total == n + 2
        # every partition read to its end: the lag gauge says 0 for each (it refreshes each 1s)
        enriched_lag = f'fieldstream_sink_consumer_lag{{partition="0",topic="{topics.enriched}"}}'
        wait_for(lambda: f"{enriched_lag} 0.0" in httpx.get(f"{base}/metrics").text, "zero lag")

        produce_all()  # redelivery of everything, at new offsets
        already = 'fieldstream_sink_already_stored_total{table="contact_events"}'
        wait_for(lambda: metric(base, already) == n, "the ledger dropping the copies")
        wait_for(lambda: rows_inserted(base) >= first_total + 2, "the dead letters again")
        want = expected(n)
        assert store.query(RECOUNT)[1][0] == [want[m] for m in want]
        # the store held them: no copy was inserted at all, not even one FINAL would fold
        assert count("SELECT count() FROM contact_events") == n
        # a dead letter is what it is, not where it was read: the re-sent DeadLetter and the
        # junk message sent twice are one row each, with two arrivals
        assert count("SELECT count() FROM dead_letters FINAL") == 2
        arrivals = store.query("SELECT stage, arrivals FROM dead_letters FINAL ORDER BY stage")
        assert arrivals[1] == [["sink", 2], ["validate", 2]]
        assert store.query(ROLLUP)[1][0] == [want["attempts"], want["contacts"], want["ids"]]

        assert load_goals(store, write_goals(tmp_path)) == 4
        # goals read the board tables the sink's ledger keeper finalises (a pass every 2s)
        wait_for(lambda: goal_actuals(store.query(GOALS)[1]) == want, "the goals' actuals")

        admin = admin_header(settings.query)
        anonymous = httpx.post(f"{base}/query", content=b"SELECT 1")
        assert anonymous.status_code == 401
        refused = httpx.post(
            f"{base}/query", content=b"INSERT INTO goals VALUES ('x')", headers=admin
        )
        assert refused.status_code == 400 and "only" in refused.json()["error"]
        bad = httpx.post(f"{base}/query", content=b"SELECT nope FROM contact_events", headers=admin)
        assert bad.status_code == 400 and "nope" in bad.json()["error"]
        ok = httpx.post(
            f"{base}/query",
            content=b"SELECT max(occurred_at) AS t FROM contact_events",
            headers=admin,
        )
        assert ok.json()["rows"][0][0].startswith(NOW.date().isoformat())
    finally:
        store.close()
        producer.flush(5)

    proc.terminate()
    assert proc.wait(20) == 0, (tmp_path / "sink.log").read_text()
