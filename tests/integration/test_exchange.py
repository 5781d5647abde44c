"""Two orgs exchange contacts on one real Tansu broker, each with its own sink and chDB.

Each org's exchange agent (``python -m streams.exchange``) reads that org's enriched topic and
shares per its agreement; each org's sink (``python -m sinks``) stores the other's records as
partner_contacts. Checks: each sees the other's contacts only as the agreement allows (fields
not allowed are NULL; a campaign not named never arrives); coalition universe coverage equals
a recount; small groups are suppressed (with a complement); the audit export lists exactly the
shared records with their agreement; an event with no key is dead-lettered; redelivering every
event changes no count; and an agreement change (SIGHUP) applies to new events only.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import Producer
from typer import Typer
from typer.testing import CliRunner

from core.config import write_private
from core.kafka import ensure_topics, producer_config
from core.settings import (
    ClickHouseSettings,
    ExchangeSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    TopicNames,
)
from fieldstream.cli_exchange import exchange_app
from fieldstream.embedded import free_port
from fieldstream.exchange_audit import coalition_aggregates, publish_pseudonyms
from fieldstream.stack import settings_env
from schemas import ENRICHED_CONTACT, VOTER
from schemas.registry import codec_for
from sinks.loaders import load_universe
from sinks.query_tokens import admin_token
from sinks.remote import HttpSinkAccess
from streams.exchange import load_agreements, load_keys
from streams.exchange.__main__ import ensure_exchange_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CODEC = codec_for(None)
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
MIDNIGHT = NOW.replace(hour=0, minute=0, second=0)
SPAN = max(1, min(3600, int((NOW - MIDNIGHT).total_seconds())))  # keep contacts "today"
A, B = "org-a", "org-b"
N_VOTERS = 200
A_GOTV = range(0, 120)  # org A, campaign gotv: shared with B
A_PRIVATE = range(150, 170)  # org A, campaign private: never shared
B_FIELD = [*range(80, 180), *range(190, 200)]  # org B: all shared with A
UNIVERSE = [i for i in range(N_VOTERS) if i % 2 == 0]  # org A's gotv universe

AGREEMENT_A: dict[str, Any] = {  # what A lets B see
    "id": "a-to-b",
    "partner": B,
    "valid_from": "2020-01-01",
    "valid_until": "2100-01-01",
    "share": [{"org": A, "campaigns": ["gotv"]}],
    "fields": {"timestamps": "day", "result": True, "geography": "county", "demographics": ["sex"]},
}
AGREEMENT_B: dict[str, Any] = {  # what B lets A see
    "id": "b-to-a",
    "partner": A,
    "valid_from": "2020-01-01",
    "valid_until": "2100-01-01",
    "share": [{"org": B, "campaigns": ["*"]}],
    "fields": {
        "timestamps": "hour",
        "channel": True,
        "geography": "precinct",
        "demographics": ["race", "age_band"],
    },
}


def voter(i: int) -> dict[str, Any]:
    county = "C0" if i < 100 else "C1" if i < 190 else "C2"  # C2: 10 people, a small group
    return {
        "voter_id": f"ZZ{i:04d}",
        "state": "ZZ",
        "county": county,
        "precinct": f"{county}-P{i % 3}",
        "congressional_district": f"ZZ-{1 + i % 2}",
        "birth_year": 1950 + i % 50,
        "sex": "female" if i % 2 else "male",
        "race": "black" if i % 4 == 0 else "white",
        "race_source": "self_reported",
        "updated_at": NOW,
    }


def enriched(org: str, campaign: str, i: int, n: int, occurred: dt.datetime) -> dict[str, Any]:
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"exchange-test-{org}-{n}"),
            "source_system": "test",
            "source_event_id": f"{org}-{n}",
            "org_id": org,
            "campaign_id": campaign,
            "channel": "door",
            "occurred_at": occurred,
            "received_at": occurred,
            "person": {"voter_id": f"ZZ{i:04d}", "state": "ZZ"},
            "canvasser_id": "c-1",
            "result": "canvassed" if i % 3 else "not_home",
            "result_raw": "x",
            "responses": [],
        },
        "voter_matched": True,
        "voter": voter(i),
        "enriched_at": occurred,
    }


def today(n: int) -> dt.datetime:
    return NOW - dt.timedelta(seconds=(n * 7919) % SPAN)


@dataclass
class Org:
    name: str
    settings: Settings
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path

    @property
    def store(self) -> HttpSinkAccess:
        return HttpSinkAccess(
            f"http://127.0.0.1:{self.settings.sink.query_port}", admin_token(self.settings.query)
        )

    def count(self, sql: str) -> int:
        store = self.store
        try:
            return int(store.query(sql)[1][0][0])
        finally:
            store.close()

    def reached(self, sql: str, n: int) -> bool:
        return self.count(sql) >= n

    def rows(self, sql: str) -> list[list[Any]]:
        store = self.store
        try:
            return store.query(sql)[1]
        finally:
            store.close()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def org_settings(name: str, other: str, kafka: KafkaSettings, tmp: Path, tag: str) -> Settings:
    t = kafka.topics
    topics = TopicNames(
        raw=f"{t.raw}.{name}",
        enriched=f"{t.enriched}.{name}",
        dlq=f"{t.dlq}.{name}",
        voters=f"{t.voters}.{name}",
        raw_bulk=f"{t.raw_bulk}.{name}",
        enriched_bulk=f"{t.enriched_bulk}.{name}",
        corrections=f"{t.corrections}.{name}",
        suppressions=f"{t.suppressions}.{name}",
    )
    ex = ExchangeSettings(
        our_partner_id=name,
        agreements_file=tmp / name / "agreements.yaml",
        keys_file=tmp / "keys.yaml",
        group_id=f"exchange-{name}-{tag}",
        outbound_topic=f"ex.{tag}.{{us}}.to.{{partner}}",
        self_topic=f"ex.{tag}.{{us}}.self",
        audit_topic=f"ex.{tag}.{{us}}.audit",
        pseudonyms_topic=f"ex.{tag}.{{us}}.pseudonyms",
        inbound=f"{other}=ex.{tag}.{other}.to.{{us}}",
        session_timeout_s=4.0,
        reload_check_s=0.5,
    )
    return Settings(
        data_dir=tmp / name,
        kafka=KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, topics=topics),
        clickhouse=ClickHouseSettings(dsn=f"chdb://{tmp / name / 'chdb'}"),
        sink=SinkSettings(
            group_id=f"sink-{name}-{tag}",
            query_port=free_port(),
            batch_rows=500,
            flush_interval_s=0.1,
            session_timeout_s=4.0,
        ),
        exchange=ex,
    )


def spawn(org: Org, name: str, module: str) -> None:
    org.logs.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
    env.update(settings_env(org.settings))
    with open(org.logs / f"{name}.log", "ab") as out:
        org.procs[name] = subprocess.Popen(
            [sys.executable, "-m", module], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for(check: Callable[[], bool], what: str, orgs: list[Org], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for org in orgs:
            for name, proc in org.procs.items():
                assert proc.poll() is None, f"{org.name} {name} died:\n{org.log(name)[-3000:]}"
        if check():
            return
        time.sleep(0.3)
    tails = "\n".join(f"--- {o.name} {n}\n{o.log(n)[-2000:]}" for o in orgs for n in o.procs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def healthy(org: Org) -> bool:
    try:
        url = f"http://127.0.0.1:{org.settings.sink.query_port}/healthz"
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def orgs(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[tuple[Org, Org]]:
    tag = uuid.uuid4().hex[:8]
    write_private(  # a secrets file: the exchange refuses one other users can read
        tmp_path / "keys.yaml",
        yaml.safe_dump({"keys": [{"id": "k1", "secret": "s" * 40, "valid_from": "2020-01-01"}]}),
    )
    made = []
    for name, other, agreement in ((A, B, AGREEMENT_A), (B, A, AGREEMENT_B)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "agreements.yaml").write_text(
            yaml.safe_dump({"agreements": [agreement]})
        )
        settings = org_settings(name, other, kafka_settings, tmp_path, tag)
        made.append(Org(name, settings, {}, tmp_path / name / "logs"))
    topics: list[str] = []
    for org in made:
        ensure_topics(org.settings.kafka)
        ex = org.settings.exchange
        topics += [ex.topic(t) for t in (ex.self_topic, ex.audit_topic, ex.pseudonyms_topic)]
        topics += list(ex.inbound_topics())
    # the sinks subscribe to partners' topics: they must exist before (metadata refresh)
    ensure_exchange_topics(kafka_settings.bootstrap_servers, 2, topics)
    try:
        for org in made:
            spawn(org, "sink", "sinks")
            spawn(org, "agent", "streams.exchange")
        wait_for(lambda: all(healthy(o) for o in made), "the sinks' /healthz", made)
        yield made[0], made[1]
    finally:
        for org in made:
            for proc in org.procs.values():
                if proc.poll() is None:
                    proc.terminate()
        for org in made:
            for proc in org.procs.values():
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    p = Producer(producer_config(settings.kafka))
    for key, value in records:
        p.produce(topic, value, key)
    assert p.flush(30) == 0


def a_events() -> list[dict[str, Any]]:
    out = [enriched(A, "gotv", i, n, today(n)) for n, i in enumerate(A_GOTV)]
    out += [enriched(A, "private", i, 1000 + i, today(i)) for i in A_PRIVATE]
    out.append(enriched(A, "gotv", 5, 9999, dt.datetime(2019, 6, 1, tzinfo=dt.UTC)))  # no key
    return out


def encode(events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [
        (str(e["contact"]["event_id"]).encode(), CODEC.encode(ENRICHED_CONTACT, e)) for e in events
    ]


def rows_inserted(org: Org, table: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{org.settings.sink.query_port}/metrics").text
    prefix = f'fieldstream_sink_rows_inserted_total{{table="{table}"}}'
    return sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(prefix))


PC = "SELECT count() FROM partner_contacts FINAL WHERE partner = '{}'"
NO_KEY = "SELECT uniqExact(event_id) FROM dead_letters WHERE reason_code = 'exchange_no_key'"
AUDIT = "SELECT count() FROM exchange_audit FINAL WHERE partner_id = '{}'"


def test_two_orgs_share_per_agreement(orgs: tuple[Org, Org], tmp_path: Path) -> None:
    org_a, org_b = orgs
    both = [org_a, org_b]
    voters = [(f"ZZ:ZZ{i:04d}".encode(), CODEC.encode(VOTER, voter(i))) for i in range(N_VOTERS)]
    for org in both:
        produce(org.settings, org.settings.kafka.topics.voters, voters)
    events_a = a_events()
    events_b = [enriched(B, "field", i, n, today(n + 500)) for n, i in enumerate(B_FIELD)]
    produce(org_a.settings, org_a.settings.kafka.topics.enriched, encode(events_a))
    produce(org_b.settings, org_b.settings.kafka.topics.enriched, encode(events_b))

    universe = tmp_path / "universe.csv"
    universe.write_text(
        "org_id,campaign_id,state,voter_id\n"
        + "".join(f"{A},gotv,ZZ,ZZ{i:04d}\n" for i in UNIVERSE)
    )
    store = org_a.store
    try:
        assert load_universe(store, universe) == len(UNIVERSE)
        ex = org_a.settings.exchange
        sent = publish_pseudonyms(
            store,
            producer_config(org_a.settings.kafka),
            ex.topic(ex.pseudonyms_topic),
            load_keys(ex.keys_file),
            CODEC,
        )
    finally:
        store.close()
    assert sent == len(UNIVERSE)  # one key

    expect = [
        (org_a, PC.format(B), len(B_FIELD)),
        (org_a, PC.format("self"), len(A_GOTV) + len(A_PRIVATE)),
        (org_b, PC.format(A), len(A_GOTV)),  # the private campaign never reaches B
        (org_b, PC.format("self"), len(B_FIELD)),
        (org_a, AUDIT.format(B), len(A_GOTV)),
        (org_a, "SELECT count() FROM voter_pseudonyms FINAL", len(UNIVERSE)),
        (
            org_a,
            "SELECT uniqExact(event_id) FROM dead_letters WHERE reason_code = 'exchange_no_key'",
            1,
        ),
    ]
    for org, sql, n in expect:
        wait_for(partial(org.reached, sql, n), sql, both)
    for org, sql, n in expect:
        assert org.count(sql) == n, sql

    # what A sees of B: B's terms (hour, channel, precinct, race + age band; no result, sex)
    seen = org_a.rows(
        "SELECT countIf(result IS NOT NULL), countIf(sex IS NOT NULL),"
        " countIf(ethnicity IS NOT NULL), countIf(channel IS NULL), countIf(precinct IS NULL),"
        " countIf(race IS NULL), countIf(toMinute(occurred_at) != 0 OR toSecond(occurred_at) != 0),"
        " uniqExact(agreement_id), any(agreement_version)"
        f" FROM partner_contacts FINAL WHERE partner = '{B}'"
    )[0]
    version_b = load_agreements(org_b.settings.exchange.agreements_file).by_id("b-to-a")
    assert version_b is not None
    assert seen == [0, 0, 0, 0, 0, 0, 0, 1, version_b.version]
    # what B sees of A: A's terms (day, result, county, sex; no channel, precinct, race)
    seen = org_b.rows(
        "SELECT countIf(channel IS NOT NULL), countIf(precinct IS NOT NULL),"
        " countIf(congressional_district IS NOT NULL), countIf(race IS NOT NULL),"
        " countIf(age_band IS NOT NULL), countIf(county IS NULL), countIf(sex IS NULL),"
        " countIf(result IS NULL), countIf(occurred_at != toStartOfDay(occurred_at))"
        f" FROM partner_contacts FINAL WHERE partner = '{A}'"
    )[0]
    assert seen == [0] * 9
    # B received exactly the records A's audit lists
    got_b = {
        r[0]
        for r in org_b.rows(
            f"SELECT shared_event_id FROM partner_contacts FINAL WHERE partner = '{A}'"
        )
    }
    audit_a = {
        r[0]
        for r in org_a.rows(
            f"SELECT shared_event_id FROM exchange_audit FINAL WHERE partner_id = '{B}'"
        )
    }
    assert got_b == audit_a and len(got_b) == len(A_GOTV)

    # coalition coverage of A's universe equals a recount
    uni = set(UNIVERSE)
    ours, theirs = uni & set(A_GOTV), uni & set(B_FIELD)
    coverage = org_a.rows(
        "SELECT universe, attempted, partner_attempted, coalition_attempted"
        " FROM coalition_universe_coverage WHERE org_id = 'org-a' AND campaign_id = 'gotv'"
    )
    assert coverage == [[len(uni), len(ours), len(theirs), len(ours | theirs)]]
    both_today = len((set(A_GOTV) | set(A_PRIVATE)) & set(B_FIELD))
    assert (
        org_a.count(
            # coalition_contacted_today(tz = 'UTC') as its body: the query door refuses a
            # parameterized view (it reads as a table function)
            "SELECT count() FROM (SELECT key_id, person_pseudonym FROM coalition_contacts "
            "WHERE toDate(occurred_at, 'UTC') = toDate(now(), 'UTC') "
            "GROUP BY key_id, person_pseudonym HAVING countIf(ours = 1) > 0 "
            "AND countIf(ours = 0) > 0)"
        )
        == both_today
    )

    # shared aggregates: C2 has 10 people (< 11): suppressed, and one complement in its table
    store = org_a.store
    try:
        shared = coalition_aggregates(store, 11)
    finally:
        store.close()
    county = {r["value"]: r for r in shared.rows if r["dimension"] == "county"}
    reached = set(A_GOTV) | set(A_PRIVATE) | set(B_FIELD)
    recount = {c: sum(1 for i in reached if voter(i)["county"] == c) for c in ("C0", "C1", "C2")}
    assert recount["C2"] == 10
    assert county["C2"]["people"] is None and county["C2"]["suppressed"] == "small"
    assert county["C1"]["suppressed"] == "complementary"  # the smaller of the other two
    assert county["C0"]["people"] == recount["C0"]
    assert all(r["people"] is None or r["people"] >= 11 for r in shared.rows)

    # the audit export, through the command line
    out = tmp_path / "audit.csv"
    cli = Typer()
    cli.add_typer(exchange_app, name="exchange")
    day = NOW.date().isoformat()
    result = CliRunner().invoke(
        cli,
        ["exchange", "export", "--partner", B, "--from", day, "--to", day, "--out", str(out)],
        env=settings_env(org_a.settings),
    )
    assert result.exit_code == 0, result.output
    with out.open() as fh:
        exported = list(csv.DictReader(fh))
    version_a = load_agreements(org_a.settings.exchange.agreements_file).by_id("a-to-b")
    assert version_a is not None
    gotv_ids = {str(e["contact"]["event_id"]) for e in events_a[: len(A_GOTV)]}
    assert {r["event_id"] for r in exported} == gotv_ids and len(exported) == len(A_GOTV)
    assert {(r["agreement_id"], r["agreement_version"]) for r in exported} == {
        ("a-to-b", version_a.version)
    }
    assert {r["shared_event_id"] for r in exported} == audit_a

    result = CliRunner().invoke(
        cli, ["exchange", "aggregates", "--dimension", "county"], env=settings_env(org_a.settings)
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "dimension,parent,value,source,people,contacted,suppressed"
    assert f"county,,C0,,{recount['C0']}," in result.stdout
    assert "county,,C2,,,,small" in lines and "county,,C1,,,,complementary" in lines

    # redelivery of every event of A: no count moves
    before = rows_inserted(org_a, "exchange_audit")
    produce(org_a.settings, org_a.settings.kafka.topics.enriched, encode(events_a))
    wait_for(
        lambda: rows_inserted(org_a, "exchange_audit") >= before + len(A_GOTV), "redelivery", both
    )
    wait_for(
        lambda: rows_inserted(org_b, "partner_contacts") >= 2 * len(A_GOTV) + len(B_FIELD),
        "B",
        both,
    )
    for org, sql, n in expect:
        assert org.count(sql) == n, sql

    # an agreement change (SIGHUP) applies to new events only, and is logged
    changed = {**AGREEMENT_A, "fields": {**AGREEMENT_A["fields"], "channel": True}}
    path = org_a.settings.exchange.agreements_file
    path.write_text(yaml.safe_dump({"agreements": [changed]}))
    new_version = load_agreements(path).by_id("a-to-b")
    assert new_version is not None and new_version.version != version_a.version
    org_a.procs["agent"].send_signal(signal.SIGHUP)
    line = f"agreement a-to-b version {version_a.version} -> {new_version.version}: fields.channel"
    wait_for(lambda: line in org_a.log("agent"), "the reload's log line", both)
    fresh = [enriched(A, "gotv", i, 2000 + i, today(i)) for i in range(5)]
    produce(org_a.settings, org_a.settings.kafka.topics.enriched, encode(fresh))
    wait_for(lambda: org_b.count(PC.format(A)) >= len(A_GOTV) + 5, "the new events at B", both)
    by_version = org_b.rows(
        "SELECT agreement_version, count(), countIf(channel IS NOT NULL)"
        f" FROM partner_contacts FINAL WHERE partner = '{A}'"
        " GROUP BY agreement_version ORDER BY count()"
    )
    assert by_version == [[new_version.version, 5, 5], [version_a.version, len(A_GOTV), 0]]
    wait_for(lambda: org_a.count(AUDIT.format(B)) >= len(A_GOTV) + 5, "the new audit rows", both)
    assert org_a.rows(
        "SELECT agreement_version, count() FROM exchange_audit FINAL"
        f" WHERE partner_id = '{B}' GROUP BY agreement_version ORDER BY count()"
    ) == [[new_version.version, 5], [version_a.version, len(A_GOTV)]]
