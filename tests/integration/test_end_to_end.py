"""The whole path on real parts: gateway -> Tansu -> Faust stream -> sink -> chDB.

Posts a few thousand events (with retries of the same event, bad events the stream must
dead-letter, and invalid ones the gateway must refuse), waits for the sink, and checks the
rollup against a recount made here from what was sent and accepted. Then redelivers every
enriched event and checks that no count moved.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from core.config import OrgConfig, SourceConfig, write_programs, write_sources
from core.kafka import producer_config
from core.settings import KafkaSettings, Settings
from fieldstream.embedded import free_port
from fieldstream.stack import Stack
from schemas import DEAD_LETTER, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.ids import event_id_for, voter_key
from sinks.query_tokens import admin_header

pytestmark = pytest.mark.integration

ORG, OTHER_ORG = "org-a", "org-b"
CAMPAIGN = "gotv"
SECRET = "s3cret-for-tests-only"
N_VOTERS = 300
RACES = ["white", "black", "latino", "asian", "unknown"]
SEXES = ["female", "male", "unknown"]


def make_voters(rng: random.Random) -> dict[str, dict[str, Any]]:
    voters = {}
    for i in range(N_VOTERS):
        vid = f"V{i:05d}"
        voters[vid] = {
            "voter_id": vid,
            "state": "ZZ",
            "county": f"C{i % 3}",
            "precinct": f"P{i % 7:02d}",
            "age": 18 + (i * 7) % 70,
            "sex": rng.choice(SEXES),
            "race": rng.choice(RACES),
            "race_source": "self_reported",
            "ethnicity": "unknown",
            "updated_at": 0,
        }
    return voters


def make_event(rng: random.Random, n: int, now: dt.datetime) -> dict[str, Any]:
    channel = rng.choice(["door", "phone", "text"])
    result = {
        "door": rng.choice(["canvassed", "not_home", "not_home", "refused"]),
        "phone": rng.choice(["canvassed", "busy", "left_message", "wrong_number"]),
        "text": rng.choice(["canvassed", "texted", "texted", "do_not_text"]),
    }[channel]
    # a few voters are not on the file: still counted, demographics unknown
    vid = f"V{rng.randrange(N_VOTERS + 20):05d}"
    responses = []
    if result == "canvassed" and rng.random() < 0.7:
        responses.append(
            {"question_id": "support", "answer": "x", "support_level": rng.randint(1, 5)}
        )
    return {
        "source_system": "test",
        "source_event_id": f"ev-{n}",
        "org_id": ORG,
        "campaign_id": CAMPAIGN,
        "channel": channel,
        "occurred_at": (now - dt.timedelta(minutes=rng.randint(0, 600))).isoformat(),
        "person": {"voter_id": vid, "state": "ZZ"},
        "result": result,
        "result_raw": result,
        "responses": responses,
        "canvasser_id": f"c{rng.randint(1, 9)}",
    }


def make_bad(rng: random.Random, n: int, now: dt.datetime) -> tuple[dict[str, Any], str]:
    ev = make_event(rng, n, now)
    kind = n % 4
    if kind == 0:
        ev["campaign_id"] = "no-such-campaign"
        return ev, "unknown_campaign"
    if kind == 1:
        ev["occurred_at"] = (now + dt.timedelta(hours=2)).isoformat()
        return ev, "future_occurred_at"
    if kind == 2:
        ev.update(
            channel="door",
            result="not_home",
            result_raw="1",
            responses=[{"question_id": "q", "answer": "a", "support_level": 1}],
        )
        return ev, "responses_without_contact"
    ev.update(channel="door", result="texted", result_raw="texted", responses=[])
    return ev, "result_channel_mismatch"


@pytest.fixture
def stack(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[Settings]:
    programs = tmp_path / "programs.yaml"
    sources = tmp_path / "sources.yaml"
    write_programs(  # on UTC: the recount below takes UTC days
        programs,
        [OrgConfig(id=ORG, campaigns=[CAMPAIGN]), OrgConfig(id=OTHER_ORG, campaigns=["x"])],
        timezone="UTC",
    )
    write_sources(
        sources,
        [SourceConfig.model_validate({"id": "test-tool", "org_id": ORG, "secrets": [SECRET]})],
    )
    settings = Settings(data_dir=tmp_path / "data", kafka=kafka_settings)
    settings.stream.programs_file = programs
    settings.gateway.sources_file = sources
    settings.gateway.port = free_port()
    settings.stream.web_port = free_port()
    settings.sink.query_port = free_port()
    # broker topics and the sink only: the test starts the pipeline once voters are loaded
    with Stack(settings, tmp_path / "logs", start_broker=False) as s:
        s.start_core()
        yield settings


def query(settings: Settings, sql: str) -> list[list[Any]]:
    url = f"http://{settings.sink.query_host}:{settings.sink.query_port}/query"
    r = httpx.post(url, content=sql, headers=admin_header(settings.query), timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["rows"])


def wait_for(settings: Settings, sql: str, expected: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    got = -1
    while time.monotonic() < deadline:
        got = int(query(settings, sql)[0][0])
        if got >= expected:
            return got
        time.sleep(0.5)
    return got


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 60) -> list[bytes]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 20,
            "session.timeout.ms": 6000,
        }
    )
    c.subscribe([topic])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in c.consume(500, 0.5):
                if m.error() is None and m.value() is not None:
                    out.append(m.value())
    finally:
        c.close()
    return out


def test_whole_path_counts_equal_a_recount(stack: Settings, tmp_path: Path) -> None:
    settings = stack
    kafka = settings.kafka
    rng = random.Random(11)
    codec = AvroCodec()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    voters = make_voters(rng)
    p = Producer(producer_config(kafka))
    for v in voters.values():
        p.produce(
            kafka.topics.voters,
            key=voter_key("ZZ", v["voter_id"]).encode(),
            value=codec.encode(VOTER, v),
        )
    assert p.flush(30) == 0

    running = Stack(settings, tmp_path / "logs", start_broker=False)
    try:
        running.start_pipeline()
        _run_traffic(settings, rng, now, voters, codec)
    finally:
        running.stop()


def _run_traffic(
    settings: Settings,
    rng: random.Random,
    now: dt.datetime,
    voters: dict[str, dict[str, Any]],
    codec: AvroCodec,
) -> None:
    kafka = settings.kafka
    url = f"http://{settings.gateway.host}:{settings.gateway.port}/v1/events"
    headers = {"X-Fieldstream-Source": "test-tool", "Authorization": f"Bearer {SECRET}"}
    good = [make_event(rng, n, now) for n in range(3000)]
    bad = [make_bad(rng, 10_000 + n, now) for n in range(120)]
    sent: list[dict[str, Any]] = good + [b for b, _ in bad]
    rng.shuffle(sent)

    with httpx.Client(timeout=30) as client:
        for i in range(0, len(sent), 100):
            r = client.post(url, json=sent[i : i + 100], headers=headers)
            assert r.status_code == 202, r.text
        # retries: the same events again (a sender that never saw our 202)
        for i in range(0, 600, 50):
            r = client.post(url, json=good[i : i + 50], headers=headers)
            assert r.status_code == 202, r.text
        # invalid at the gateway: refused with a 4xx, nothing produced
        broken = dict(good[0], channel="pigeon")
        r = client.post(url, json=[good[1], broken], headers=headers)
        assert r.status_code == 422 and "channel" in r.text

    # recount from what was sent and accepted; "texted" is one attempt per person, campaign
    # and day (the campaign is the same for every event here), anything else one per event
    attempts: dict[tuple[Any, ...], set[tuple[str, ...]]] = {}
    contacts: Counter[tuple[Any, ...]] = Counter()
    ids: Counter[tuple[Any, ...]] = Counter()
    for ev in good:
        v = voters.get(ev["person"]["voter_id"])
        key = (
            ev["channel"],
            dt.datetime.fromisoformat(ev["occurred_at"]).date(),
            v["precinct"] if v else "unknown",
            v["race"] if v else "unknown",
            v["sex"] if v else "unknown",
        )
        vid = ev["person"]["voter_id"]
        attempt = ("texted", vid) if ev["result"] == "texted" else ("event", ev["source_event_id"])
        attempts.setdefault(key, set()).add(attempt)
        if ev["result"] == "canvassed":
            contacts[key] += 1
            if any(x.get("support_level") for x in ev["responses"]):
                ids[key] += 1

    total = wait_for(settings, "SELECT count() FROM contact_events FINAL", len(good), 180)
    assert total == len(good)
    dlq_total = wait_for(settings, "SELECT count() FROM dead_letters FINAL", len(bad))
    assert dlq_total == len(bad)

    rollup_sql = (
        "SELECT channel, day, precinct, race, sex, sum(attempts), sum(contacts), sum(ids) "
        f"FROM contact_progress_daily WHERE org_id = '{ORG}' AND campaign_id = '{CAMPAIGN}' "
        "GROUP BY channel, day, precinct, race, sex"
    )

    def rollup() -> dict[tuple[Any, ...], tuple[int, int, int]]:
        return {
            (r[0], dt.date.fromisoformat(str(r[1])[:10]), r[2], r[3], r[4]): (
                int(r[5]),
                int(r[6]),
                int(r[7]),
            )
            for r in query(settings, rollup_sql)
        }

    got = rollup()
    want = {k: (len(attempts[k]), contacts[k], ids[k]) for k in attempts}
    assert sum(len(a) for a in attempts.values()) < len(good)  # texted repeats were folded
    assert got == want

    # every bad event is on the DLQ with its reason
    dead = [
        codec.decode(b, expect=DEAD_LETTER)[1]
        for b in read_topic(kafka.bootstrap_servers, kafka.topics.dlq, len(bad))
    ]
    reasons = {d["event_id"]: d["reason_code"] for d in dead}
    for ev, reason in bad:
        eid = event_id_for(ev["org_id"], ev["source_system"], ev["source_event_id"])
        assert reasons.get(eid) == reason, (eid, reason)
    assert all(d["reason"] for d in dead)

    # redelivery: every enriched message again, as after a crash before commit
    enriched = read_topic(kafka.bootstrap_servers, kafka.topics.enriched, len(good))
    assert len(enriched) == len(good)  # the stream dropped every retry
    # sentinels (another org, one per partition) tell us when the sink has read past them
    sample = codec.decode(enriched[0], expect=ENRICHED_CONTACT)[1]
    p = Producer(producer_config(kafka))
    for i, value in enumerate(enriched):
        p.produce(kafka.topics.enriched, value=value, partition=i % kafka.partitions)
    for part in range(kafka.partitions):
        sentinel = dict(
            sample,
            contact=dict(
                sample["contact"], org_id=OTHER_ORG, campaign_id="x", event_id=str(uuid.uuid4())
            ),
        )
        p.produce(
            kafka.topics.enriched, value=codec.encode(ENRICHED_CONTACT, sentinel), partition=part
        )
    assert p.flush(30) == 0
    sentinel_sql = f"SELECT count() FROM contact_events FINAL WHERE org_id = '{OTHER_ORG}'"
    assert wait_for(settings, sentinel_sql, kafka.partitions) == kafka.partitions
    assert rollup() == want
    own = f"SELECT count() FROM contact_events FINAL WHERE org_id = '{ORG}'"
    assert int(query(settings, own)[0][0]) == len(good)
