"""Every tool's documented payloads through the real pipeline: gateway -> Tansu -> stream ->
sink -> chDB.

Each tool's fixtures (tests/data/<tool>/) are posted the way that tool posts them: VAN clients
to ``/v4/people/{vanId}/canvassResponses`` with HTTP Basic, webhook tools to
``/v1/hooks/{source}`` with their own authentication, a canonical sender with a Standard
Webhooks signature. What the adapter makes of each payload is the expectation; the test finds
exactly those events (id, tool, channel, result) in ClickHouse, and an unmapped VAN code in
dead_letters with a reason naming the code and the source.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from core.config import OrgConfig, SourceConfig, write_programs, write_sources
from core.kafka import producer_config
from core.settings import KafkaSettings, MobilizeSettings, Settings
from fieldstream.embedded import free_port
from fieldstream.stack import Stack
from producers.tools import registry
from producers.tools.base import Signal, Unmapped
from producers.tools.csv.importer import import_mapped_csv
from producers.tools.mobilize.poller import poll_attendances
from producers.tools.records import with_opt_outs
from producers.tools.van import adapter as van
from producers.tools.van import signals as van_signals
from producers.tools.van.export import import_van_export
from producers.tools.van.route import split_person
from schemas import CONTACT_EVENT, AvroCodec
from schemas.ids import event_id_for
from schemas.jsonconv import ContactJson
from sinks.query_tokens import admin_header

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
ORG, CAMPAIGN, SECRET = "org-tools", "gotv", "tools-secret-for-tests"
IMPORTED = "gotv-2026"  # the campaign of the importers' rows (the CSV mapping names it)
HUSTLE_KEY = "hustle-hmac-secret-for-tests"
WHSEC = "whsec_" + base64.b64encode(b"a-standard-webhooks-test-key-32b").decode()
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
RECENT = (NOW - dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")

SOURCES: list[dict[str, Any]] = [
    {
        "id": "van-src",
        "tool": "van",
        "state": "ZZ",
        "codes_file": str(DATA / "van" / "codes_committee.yaml"),
    },
    {"id": "spoke-src", "tool": "spoke"},
    {
        "id": "callhub-src",
        "tool": "callhub",
        "options": {"person_fields": {"van_id": "van_id"}, "time_field": "call_time"},
    },
    {"id": "signed-src", "tool": "canonical", "signing_secrets": [WHSEC]},
    {
        "id": "hustle-src",
        "tool": "hustle",
        "signing_secrets": [HUSTLE_KEY],
        "options": {"person_field": "vanid", "account_id": "acct-1"},
    },
]


def source(sid: str) -> SourceConfig:
    raw = next(s for s in SOURCES if s["id"] == sid)
    return SourceConfig.model_validate(
        {"org_id": ORG, "secrets": [SECRET], "campaign_id": CAMPAIGN} | raw
    )


@pytest.fixture
def stack(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[Settings]:
    programs, sources = tmp_path / "programs.yaml", tmp_path / "sources.yaml"
    write_programs(programs, [OrgConfig(id=ORG, campaigns=[CAMPAIGN, IMPORTED])])
    write_sources(sources, [source(str(s["id"])) for s in SOURCES])
    settings = Settings(data_dir=tmp_path / "data", kafka=kafka_settings)
    settings.stream.programs_file = programs
    settings.gateway.sources_file = sources
    settings.gateway.port = free_port()
    settings.stream.web_port = free_port()
    settings.sink.query_port = free_port()
    with Stack(settings, tmp_path / "logs", start_broker=False) as s:
        s.start_core()
        s.start_pipeline()
        yield settings


def fixture(tool: str, name: str) -> Any:
    return json.loads((DATA / tool / name).read_text())


def van_requests() -> list[tuple[str, dict[str, Any]]]:
    """(path person, body) of every VAN fixture, dated an hour ago, plus an unmapped code."""
    out = []
    for path in sorted((DATA / "van").glob("*.json")):
        body = json.loads(path.read_text())
        if body.get("canvassContext", {}).get("dateCanvassed"):
            body["canvassContext"]["dateCanvassed"] = RECENT
        out.append(("8675309", body))
    unknown = {"canvassContext": {"contactTypeId": 2, "dateCanvassed": RECENT}, "resultCodeId": 999}
    out.append(("stateFileId:ZZ123", unknown))
    return out


def spoke_payload() -> Any:
    spoke = fixture("spoke", "question_response.json")
    spoke["contact"]["updated_at"] = RECENT
    return spoke


def hook_payloads() -> list[tuple[str, Any]]:
    spoke = spoke_payload()
    calls = []
    for name in ("cc_notes.json", "sb_reply.json"):
        payload = fixture("callhub", name)
        payload["data"] |= {"van_id": "4242", "call_time": RECENT}
        calls.append(payload)
    texts = []
    for path in sorted((DATA / "hustle").glob("*.json")):
        payload = json.loads(path.read_text())
        if isinstance(payload.get("message"), dict):
            payload["message"]["createdAt"] = RECENT
        texts.append(payload)
    return (
        [("spoke-src", spoke)]
        + [("callhub-src", c) for c in calls]
        + [("hustle-src", t) for t in texts]
    )


def expected_items() -> list[tuple[str, Any]]:
    """(source system, item) the adapters make of every payload the test posts."""
    items: list[tuple[str, Any]] = []
    received = dt.datetime.now(dt.UTC).isoformat()
    ctx = registry.context_for(source("van-src"))
    for person, body in van_requests():
        id_type, person_id = split_person(person)
        # a body without dateCanvassed gets the gateway's receive time, and its id that UTC
        # date: expect today's (an hour ago could be yesterday just after midnight)
        made = van.adapt(body, ctx, id_type=id_type, person_id=person_id, received_at=received)
        kept = van_signals.signals(
            body, ctx, id_type=id_type, person_id=person_id, received_at=received
        )
        items += [("van", i) for i in with_opt_outs([*made, *kept])]
    for sid, payload in hook_payloads():
        src = source(sid)
        ctx = dataclasses.replace(registry.context_for(src), received_at=received)
        items += [(src.tool, i) for i in with_opt_outs(_hook(src.tool)(payload, ctx))]
    items.append(("signed", signed_event()))
    return items


def signed_event() -> dict[str, Any]:
    return {
        "source_system": "signed",
        "source_event_id": "signed-1",
        "org_id": ORG,
        "campaign_id": CAMPAIGN,
        "channel": "door",
        "occurred_at": RECENT,
        "person": {"voter_id": "V1", "state": "ZZ"},
        "result": "not_home",
        "result_raw": "NH",
    }


def query(settings: Settings, sql: str) -> list[list[Any]]:
    url = f"http://{settings.sink.query_host}:{settings.sink.query_port}/query"
    r = httpx.post(url, content=sql, headers=admin_header(settings.query), timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["rows"])


def wait_count(settings: Settings, sql: str, want: int, timeout_s: float = 120) -> int:
    deadline, got = time.monotonic() + timeout_s, -1
    while time.monotonic() < deadline:
        got = int(query(settings, sql)[0][0])
        if got >= want:
            return got
        time.sleep(0.5)
    return got


def post_all(settings: Settings) -> None:
    base = f"http://{settings.gateway.host}:{settings.gateway.port}"
    basic = base64.b64encode(f"van-src:{SECRET}|1".encode()).decode()
    with httpx.Client(base_url=base, timeout=30) as client:
        for person, body in van_requests():
            r = client.post(
                f"/v4/people/{person}/canvassResponses",
                content=json.dumps(body),
                headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
            )
            assert r.status_code == 204, r.text
        for sid, payload in hook_payloads():
            if sid == "hustle-src":  # signed, as Hustle signs: HMAC-SHA256 of the body
                raw = json.dumps(payload).encode()
                sig = hmac.new(HUSTLE_KEY.encode(), raw, hashlib.sha256).hexdigest()
                r = client.post(
                    f"/v1/hooks/{sid}",
                    content=raw,
                    headers={"hustle-signature": sig, "content-type": "application/json"},
                )
                assert r.headers["hustle-webhook-confirmation"] == "acct-1"
            else:
                r = client.post(f"/v1/hooks/{sid}", params={"token": SECRET}, json=payload)
            assert r.status_code == 200, r.text
        text = json.dumps(signed_event())
        headers = {"webhook-id": "msg-1", "content-type": "application/json"}
        headers["webhook-timestamp"] = str(int(time.time()))
        headers["webhook-signature"] = Webhook(WHSEC).sign("msg-1", dt.datetime.now(dt.UTC), text)
        assert client.post("/v1/hooks/signed-src", content=text, headers=headers).status_code == 200
        # the same signed message again is a replay
        assert client.post("/v1/hooks/signed-src", content=text, headers=headers).status_code == 409


def test_every_tool_lands_as_the_adapter_says(stack: Settings) -> None:
    settings = stack
    items = expected_items()
    events = {
        event_id_for(ORG, tool if tool != "signed" else "signed", i["source_event_id"]): (
            i["source_system"],
            i["channel"],
            i["result"],
        )
        for tool, i in items
        if isinstance(i, dict)
    }
    unmapped = [i for _, i in items if isinstance(i, Unmapped)]
    signals = {
        event_id_for(ORG, i.record["source_system"], i.record["source_event_id"])
        for _, i in items
        if isinstance(i, Signal)
    }
    assert {s for s, _, _ in events.values()} >= {"van", "spoke", "callhub", "signed", "hustle"}
    assert any("999" in u.reason for u in unmapped)

    post_all(settings)

    total = wait_count(settings, "SELECT count() FROM contact_events FINAL", len(events))
    assert total == len(events)
    rows = query(
        settings,
        "SELECT event_id, toString(source_system), toString(channel), toString(result) "
        "FROM contact_events FINAL",
    )
    assert {r[0]: (r[1], r[2], r[3]) for r in rows} == events

    dead_sql = "SELECT count() FROM dead_letters FINAL WHERE stage = 'gateway'"
    assert wait_count(settings, dead_sql, len(unmapped)) == len(unmapped)
    reasons = query(settings, "SELECT reason, source_system FROM dead_letters FINAL")
    van_reason = next(r for r, s in reasons if "999" in r)
    assert "resultCodeId" in van_reason and "van-src" in van_reason
    assert "ZZ123" not in van_reason  # the person is not in the reason
    # the VAN fixtures keep their meaning: the opt-out is a do-not-text opt-out
    opt = query(settings, "SELECT count() FROM contact_events FINAL WHERE opt_out = 1")
    assert int(opt[0][0]) == sum(1 for _, i in items if isinstance(i, dict) and i.get("opt_out"))
    # person signals (activist codes, opt-outs: those of the attempts too) in their own table
    signal_sql = "SELECT count() FROM person_signals FINAL"
    assert wait_count(settings, signal_sql, len(signals)) == len(signals)
    stored = query(settings, "SELECT event_id FROM person_signals FINAL")
    assert {r[0] for r in stored} == signals


def run_importers(settings: Settings, tmp_path: Path, restart: bool = False) -> int:
    """Every importer against the running pipeline; the number of events they sent."""
    van_file, csv_file = tmp_path / "contact_history.csv", tmp_path / "attempts.csv"
    if not restart:
        shutil.copy(DATA / "van_export" / "contact_history.csv", van_file)
        shutil.copy(DATA / "csv_mapped" / "attempts.csv", csv_file)
    van_run = import_van_export(
        van_file, settings.kafka, org_id=ORG, campaign_id=IMPORTED, restart=restart
    )
    csv_run = import_mapped_csv(
        csv_file,
        DATA / "csv_mapped" / "attempts.mapping.yaml",
        settings.kafka,
        org_id=ORG,
        restart=restart,
    )
    mobilize_run = poll_attendances(
        MobilizeSettings(organization_id=15, api_token=SecretStr("tok")),
        settings.kafka,
        org_id=ORG,
        campaign_id=IMPORTED,
        checkpoint_path=tmp_path / "mobilize.checkpoint",
        restart=restart,
        client=mobilize_api(),
    )
    # Mobilize's attendances are volunteer shifts: none of them is a contact
    assert van_run.complete and csv_run.complete and mobilize_run.shifts > 0
    assert mobilize_run.sent == 0
    return van_run.sent + csv_run.sent


def mobilize_api() -> httpx.Client:
    """Mobilize's attendances API as documented, serving the two fixture pages."""
    pages = [
        json.loads((DATA / "mobilize" / f"attendances_page{n}.json").read_text()) for n in (1, 2)
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=pages[1] if request.url.params.get("page") == "2" else pages[0]
        )

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_imports_land_once_however_often_they_run(stack: Settings, tmp_path: Path) -> None:
    sent = run_importers(stack, tmp_path)
    assert sent > 0
    sql = f"SELECT count() FROM contact_events FINAL WHERE campaign_id = '{IMPORTED}'"
    assert wait_count(stack, sql, sent) == sent
    rollup = (
        "SELECT sum(attempts), sum(contacts) FROM contact_progress_daily "
        f"WHERE campaign_id = '{IMPORTED}'"
    )
    before = query(stack, rollup)
    # the same files again, from the top (--restart): the same rows, the same event ids
    assert run_importers(stack, tmp_path, restart=True) == sent
    # sentinels behind them, one per partition, tell when the stream has read past them
    sentinels = send_sentinels(stack)
    marker = "SELECT count() FROM contact_events FINAL WHERE source_event_id LIKE 'sentinel-%'"
    assert wait_count(stack, marker, sentinels) == sentinels
    assert int(query(stack, sql)[0][0]) == sent
    assert query(stack, rollup) == before


def send_sentinels(settings: Settings) -> int:
    codec, converter = AvroCodec(), ContactJson()
    producer = Producer(producer_config(settings.kafka))
    for part in range(settings.kafka.partitions):
        event = dict(signed_event(), source_event_id=f"sentinel-{part}")
        record, problems = converter.convert(event, int(time.time() * 1000))
        assert record is not None and not problems
        value = codec.encode(CONTACT_EVENT, record)
        producer.produce(settings.kafka.topics.raw, value=value, partition=part)
    assert producer.flush(30) == 0
    return settings.kafka.partitions


def test_replayed_and_badly_signed_requests_store_nothing(stack: Settings) -> None:
    base = f"http://{stack.gateway.host}:{stack.gateway.port}"
    body = json.dumps(signed_event())
    when = dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": "msg-x",
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(WHSEC).sign("msg-x", when, body + " "),
    }
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/v1/hooks/signed-src", content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "bad_signature"
        r = client.post("/v1/hooks/spoke-src", params={"token": "wrong"}, json={})
        assert r.status_code == 401
        bad = copy.deepcopy(fixture("spoke", "question_response.json"))
        del bad["questionResponse"]
        r = client.post("/v1/hooks/spoke-src", params={"token": SECRET}, json=bad)
        assert r.status_code == 422 and r.json()["problems"][0]["field"].startswith("question")
        r = client.post(
            "/v4/people/1/canvassResponses",
            json={"resultCodeId": 1},
            headers={"Authorization": "Basic " + base64.b64encode(b"van-src:nope").decode()},
        )
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
        # a good request after them (an answer no other test sends: the stream's dedupe
        # table outlives a test): once it is stored, it is all that is stored
        good = spoke_payload()
        good["questionResponse"]["value"] = "a different answer"
        r = client.post("/v1/hooks/spoke-src", params={"token": SECRET}, json=good)
        assert r.status_code == 200
    assert wait_count(stack, "SELECT count() FROM contact_events", 1) == 1
    time.sleep(1)
    assert int(query(stack, "SELECT count() FROM contact_events")[0][0]) == 1


def _hook(tool: str) -> Any:
    hook = registry.tool(tool).hook
    assert hook is not None, tool
    return hook
