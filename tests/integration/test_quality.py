"""Data quality end to end on a real Tansu and real chDB: the quality agent flags a dishonest
shift among honest ones with its evidence; in a quarantining campaign its contacts are out of
the goal counts until a person approves the flag, and back in after (counted again here)."""

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
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from core.kafka import ensure_topics, producer_config
from core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    QualityAgentSettings,
    Settings,
    SinkSettings,
)
from fieldstream.embedded import free_port
from fieldstream.quality import list_flags, review, show_flag
from fieldstream.stack import settings_env
from schemas import ENRICHED_CONTACT
from schemas.registry import codec_for
from sinks.loaders import GOAL_COLUMNS
from sinks.query_tokens import admin_token
from sinks.remote import HttpSinkAccess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ORG, CAMPAIGN = "qa-org", "qa-gotv"
MONDAY = dt.datetime.combine(
    dt.date.today() - dt.timedelta(days=dt.date.today().weekday()), dt.time(9), dt.UTC
)
HONEST, HONEST_DOORS, FAST_DOORS = 6, 25, 40


def contact(canvasser: str, i: int, occurred: dt.datetime, canvassed: bool) -> dict[str, Any]:
    responses = [{"question_id": "support", "answer": "2", "support_level": 2}] if canvassed else []
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"quality-test-{canvasser}-{i}"),
            "source_system": "test",
            "source_event_id": f"{canvasser}-{i}",
            "org_id": ORG,
            "campaign_id": CAMPAIGN,
            "channel": "door",
            "occurred_at": occurred,
            "received_at": occurred,
            "person": {"voter_id": f"ZZ{canvasser[-1]}{i:04d}", "state": "ZZ"},
            "canvasser_id": canvasser,
            "result": "canvassed" if canvassed else "not_home",
            "result_raw": "x",
            "responses": responses,
            "shift_id": f"walk-{canvasser}",
        },
        "voter_matched": False,
        "voter": None,
        "enriched_at": occurred,
    }


def program() -> list[dict[str, Any]]:
    """Six honest canvassers, a door every 3 minutes with one in five a conversation, and one
    who records a door every 40 seconds."""
    out = []
    for k in range(HONEST):
        for i in range(HONEST_DOORS):
            at = MONDAY + dt.timedelta(seconds=180 * i + 7 * k)
            out.append(contact(f"honest-{k}", i, at, canvassed=i % 5 == 0))
    for i in range(FAST_DOORS):
        at = MONDAY + dt.timedelta(minutes=30, seconds=40 * i)
        out.append(contact("fast-9", i, at, canvassed=i % 6 == 0))
    out.sort(key=lambda r: r["contact"]["occurred_at"])
    return out


@pytest.fixture
def stack(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[tuple[Settings, Path]]:
    tag = uuid.uuid4().hex[:8]
    topics = kafka_settings.topics.model_copy(update={"quality_flags": f"flags.{tag}"})
    (tmp_path / "quality.yaml").write_text(yaml.safe_dump({"default": {"quarantine": True}}))
    settings = Settings(
        data_dir=tmp_path,
        kafka=KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, topics=topics),
        clickhouse=ClickHouseSettings(dsn=f"chdb://{tmp_path / 'chdb'}"),
        sink=SinkSettings(
            group_id=f"sink-{tag}", query_port=free_port(), flush_interval_s=0.1,
            session_timeout_s=4.0,
        ),
        quality=QualityAgentSettings(
            policy_file=tmp_path / "quality.yaml", group_id=f"quality-{tag}",
            session_timeout_s=4.0, rebuild_hours=48,
        ),
    )  # fmt: skip
    ensure_topics(settings.kafka)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
    env.update(settings_env(settings))
    procs = []
    for name, module in (("sink", "sinks"), ("quality", "streams.quality")):
        with open(logs / f"{name}.log", "ab") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module], cwd=REPO, env=env, stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
    try:
        yield settings, logs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for(check: Callable[[], bool], what: str, logs: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, AssertionError):
            pass
        time.sleep(0.5)
    tails = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in logs.iterdir()
    )
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def scalar(store: HttpSinkAccess, sql: str) -> Any:
    _, rows = store.query(sql)
    return rows[0][0] if rows else None


def test_a_dishonest_shift_is_flagged_and_held_out_until_approved(
    stack: tuple[Settings, Path],
) -> None:
    settings, logs = stack
    base = f"http://127.0.0.1:{settings.sink.query_port}"
    wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, "the sink", logs)
    store = HttpSinkAccess(base, admin_token(settings.query))  # the sink has made the token
    week = MONDAY.date().isoformat()
    store.insert(
        "goals",
        GOAL_COLUMNS,
        [[ORG, CAMPAIGN, MONDAY.date(), "attempts", 500, dt.datetime.now(dt.UTC)]],
    )
    codec = codec_for(None)
    producer = Producer(producer_config(settings.kafka))
    events = program()

    def send(part: list[dict[str, Any]]) -> None:
        for rec in part:
            key = str(rec["contact"]["event_id"]).encode()
            producer.produce(
                settings.kafka.topics.enriched, codec.encode(ENRICHED_CONTACT, rec), key
            )
        assert producer.flush(30) == 0

    # the shift as it runs: its first 35 doors (23 minutes) arrive, the agent flags it (it
    # judges each shift once a batch), then the rest arrive
    running = MONDAY + dt.timedelta(minutes=30, seconds=40 * 34)
    send([r for r in events if r["contact"]["occurred_at"] <= running])
    wait_for(lambda: bool(list_flags(store, org=ORG, campaign=CAMPAIGN)), "a flag", logs)
    send([r for r in events if r["contact"]["occurred_at"] > running])
    total, honest = len(events), HONEST * HONEST_DOORS

    # the dishonest shift is flagged, with its evidence; no honest one is
    def flagged() -> bool:
        flags = list_flags(store, org=ORG, campaign=CAMPAIGN)
        return bool(flags) and flags[0]["contacts"] == FAST_DOORS

    wait_for(flagged, "the fast shift's flag, with all its contacts", logs)
    wait_for(lambda: scalar(store, "SELECT count() FROM contact_events") == total, "contacts", logs)
    flags = list_flags(store, org=ORG, campaign=CAMPAIGN)
    assert [f["canvasser_id"] for f in flags] == ["fast-9"]
    flag = show_flag(store, flags[0]["flag_id"])
    assert flag["status"] == "pending" and flag["held"] == 1 and flag["quarantine"] == 1
    evidence = {c["check"]: c for c in flag["checks"]}
    pace = evidence["doors_per_hour"]
    # no place known: the limit is 30 doors an hour widened by unknown_place_rate_factor (2)
    assert pace["threshold"] == 60.0 and pace["detail"]["building"] == "unknown"
    assert 60.0 < pace["value"] <= 90.0  # 90 an hour, judged once it spans 20 minutes
    assert int(pace["detail"]["doors"]) < FAST_DOORS  # flagged while the shift ran

    # held: the goal counts the honest contacts only (recounted from contact_events here)
    goal_sql = (
        "SELECT actual FROM goal_progress WHERE org_id = 'qa-org' AND campaign_id = 'qa-gotv'"
        f" AND metric = 'attempts' AND week_start = '{week}'"
    )
    recount = (
        "SELECT count() FROM contact_events FINAL WHERE org_id = 'qa-org'"
        " AND canvasser_id != 'fast-9'"
    )
    assert scalar(store, "SELECT count() FROM quality_held_events") == FAST_DOORS
    # the boards' tables follow the hold on the ledger keeper's next pass
    wait_for(lambda: scalar(store, goal_sql) == honest, "the goal without the held work", logs)
    assert scalar(store, goal_sql) == scalar(store, recount) == honest

    # approved: the shift's work counts again
    after = review(store, flag["flag_id"], "approve", "field director", "walked it with them")
    assert after["status"] == "approved" and after["held"] == 0
    assert scalar(store, "SELECT count() FROM quality_held_events") == 0
    wait_for(lambda: scalar(store, goal_sql) == total, "the goal with the approved work", logs)
    assert scalar(store, goal_sql) == scalar(store, "SELECT count() FROM contact_events") == total

    # the agent ran throughout and committed what it read (a bare commit() with offsets
    # stored by hand commits nothing: librdkafka raised _NO_OFFSET and the agent stopped)
    assert "the quality agent stopped" not in (logs / "quality.log").read_text()
    topic = settings.kafka.topics.enriched
    probe = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers,
         "group.id": settings.quality.group_id}
    )  # fmt: skip
    try:
        parts = [
            TopicPartition(topic, p) for p in probe.list_topics(topic).topics[topic].partitions
        ]

        def committed_all() -> bool:  # this test's own topic holds exactly its events
            got = probe.committed(parts, timeout=10)
            return sum(max(tp.offset, 0) for tp in got) == total  # none committed: -1001

        wait_for(committed_all, "the quality agent's commits", logs)
    finally:
        probe.close()
