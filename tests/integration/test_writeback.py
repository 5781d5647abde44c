"""The write-back on the real pipeline: real Tansu, real chDB, the gateway, the stream, the
write-back process, and the VAN stand-in (tests/fakes/van_api.py).

Contacts from the VAN-compatible route and from a webhook tool are each posted exactly once
with the right body, under injected 429s, 500s, a timeout, a dropped connection and a kill of
the write-back process; the ledger says which were uncertain; retry and skip do what they say;
the request a tool sent (it may hold a phone) never reaches ClickHouse.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr
from standardwebhooks import Webhook
from typer.testing import CliRunner

from core.config import OrgConfig, SourceConfig, write_programs, write_sources
from core.settings import KafkaSettings, Settings
from fieldstream.cli import app
from fieldstream.embedded import free_port
from fieldstream.stack import Stack
from sinks.query_tokens import admin_header
from sinks.writeback.ledger import Ledger
from tests.fakes.van_api import Action, VanStandIn, basic_auth, running, stop

ORG, CAMPAIGN = "wb-org", "gotv"
VAN_SECRET, HOOK_SECRET = "van-tool-secret", "door-app-secret"
SIGNING = "whsec_" + base64.b64encode(b"door-app signing key, 32 bytes!!").decode()
KEY = "11111111-2222-3333-4444-555555555555"
CODES = Path(__file__).resolve().parents[1] / "data" / "van_api" / "committee.codes.yaml"
PHONE = "5555550123"


def van_bodies() -> list[tuple[str, dict[str, Any]]]:
    """(person, body) as VAN-compatible tools send them (see tests/data/van/SOURCES.md)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(6):
        out.append(
            (
                str(2000 + i),
                {
                    "canvassContext": {"contactTypeId": 2, "inputTypeId": 11,
                                       "dateCanvassed": f"2026-10-0{1 + i % 3}T15:0{i}:00Z"},
                    "resultCodeId": 1,
                },
            )
        )  # fmt: skip
    out.append(
        (
            "stateFileId:PA77",
            {
                "canvassContext": {
                    "contactTypeId": 37,
                    "phone": {"dialingPrefix": "1", "phoneNumber": PHONE},
                    "dateCanvassed": "2026-10-02T18:00:00Z",
                },
                "resultCodeId": None,
                "responses": [
                    {"type": "SurveyResponse", "surveyQuestionId": 378552,
                     "surveyResponseId": 1555791},
                    {"type": "ActivistCode", "activistCodeId": 4482459, "action": "Apply"},
                ],
            },
        )
    )  # fmt: skip
    return out


def hook_events() -> list[dict[str, Any]]:
    """Canonical door contacts from a webhook tool, with VAN ids."""
    out = []
    for i in range(4):
        event: dict[str, Any] = {
            "source_system": "doorapp", "source_event_id": f"d{i}", "org_id": ORG,
            "campaign_id": CAMPAIGN, "channel": "door", "contact_type": "walk",
            "occurred_at": f"2026-10-03T16:0{i}:00Z", "person": {"van_id": str(3000 + i)},
            "result": "not_home", "result_raw": "NH",
        }  # fmt: skip
        if i == 3:
            event |= {
                "result": "canvassed",
                "result_raw": "Talked",
                "responses": [{"question_id": "2020VotePPE", "answer": "Maybe"}],
            }
        out.append(event)
    return out


@pytest.fixture
def env(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[tuple[Settings, VanStandIn]]:
    with running(VanStandIn(app_name="fieldstream-test", api_keys=frozenset({KEY}))) as van:
        write_programs(tmp_path / "programs.yaml", [OrgConfig(id=ORG, campaigns=[CAMPAIGN])])
        write_sources(
            tmp_path / "sources.yaml",
            [
                SourceConfig.model_validate(
                    {"id": "van-tool", "org_id": ORG, "secrets": [VAN_SECRET], "tool": "van",
                     "campaign_id": CAMPAIGN, "codes_file": str(CODES)}
                ),
                SourceConfig.model_validate(
                    {"id": "door-app", "org_id": ORG, "secrets": [HOOK_SECRET],
                     "signing_secrets": [SIGNING]}
                ),
            ],
        )  # fmt: skip
        data = tmp_path / "data"
        data.mkdir()
        (data / "writeback.yaml").write_text(
            yaml.safe_dump(
                {"orgs": {ORG: {"app_name": "fieldstream-test", "mode": 1,
                                "codes_file": str(CODES), "sync_sources": ["doorapp"]}}}
            )
        )  # fmt: skip
        settings = Settings(data_dir=data, kafka=kafka_settings)
        settings.stream.programs_file = tmp_path / "programs.yaml"
        settings.gateway.sources_file = tmp_path / "sources.yaml"  # tests may rewrite it
        settings.gateway.port = free_port()
        settings.stream.web_port = free_port()
        settings.sink.query_port = free_port()
        wb = settings.writeback
        wb.metrics_port, wb.timeout_s, wb.rate_per_key = free_port(), 1.0, 50.0
        settings.van.base_url = f"{van.url}/v4"
        settings.van.api_keys = {ORG: SecretStr(KEY)}
        yield settings, van


def ledger_of(settings: Settings) -> Ledger:
    deadline = time.monotonic() + 60
    while not settings.writeback.ledger_file.exists():
        assert time.monotonic() < deadline, "the write-back never opened its ledger"
        time.sleep(0.2)
    return Ledger(settings.writeback.ledger_file)


def settle(ledger: Ledger, expected: int, timeout_s: float = 120) -> dict[str, str]:
    """Wait until ``expected`` contacts are in the ledger and none is pending or in flight."""
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {e.event_id: e.state for e in ledger.entries(limit=10_000)}
        if len(states) >= expected and not {"pending", "sending"} & set(states.values()):
            return states
        time.sleep(0.3)
    raise AssertionError(f"the write-back did not settle: {states}")


def post_van(settings: Settings, person: str, body: dict[str, Any]) -> None:
    r = httpx.post(
        f"http://127.0.0.1:{settings.gateway.port}/v4/people/{person}/canvassResponses",
        json=body,
        headers={"Authorization": basic_auth("van-tool", VAN_SECRET, 1)},
        timeout=30,
    )
    assert r.status_code == 204, r.text


def post_hook(settings: Settings, events: list[dict[str, Any]]) -> None:
    """Signed with Standard Webhooks, as a webhook tool sends canonical JSON."""
    payload = json.dumps(events)
    msg_id, now = f"msg_{time.time_ns()}", dt.datetime.now(dt.UTC)
    signature = Webhook(SIGNING).sign(msg_id, now, payload)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    r = httpx.post(
        f"http://127.0.0.1:{settings.gateway.port}/v1/hooks/door-app",
        content=payload,
        headers=headers,
        timeout=30,
    )
    assert r.status_code in (200, 202), r.text


def by_person(van: VanStandIn) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for a in van.recorded():
        out.setdefault(a.person, []).append(a.body)
    return out


def test_every_contact_reaches_van_once_through_faults_and_a_kill(
    env: tuple[Settings, VanStandIn], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, van = env
    bodies, events = van_bodies(), hook_events()
    # the first posts meet a 429, a 500, a timeout (VAN keeps it) and a drop (VAN never saw it)
    van.script(
        Action("error", status=429, retry_after=1),
        Action("error", status=500),
        Action("slow", delay=3.0),
        Action("drop", accept=False),
    )
    with Stack(settings, tmp_path / "logs", start_broker=False) as stack:
        stack.start_core()
        stack.start_pipeline()
        for person, body in bodies:
            post_van(settings, person, body)
        post_hook(settings, events)
        ledger = ledger_of(settings)
        states = settle(ledger, len(bodies) + len(events))
        uncertain = [e for e in ledger.entries("uncertain")]
        assert sorted(e.error_code or "" for e in uncertain) == ["connection_lost", "timeout"]
        assert list(states.values()).count("posted") == len(bodies) + len(events) - 2

        # a person checks VAN: the timed-out one is there (skip), the dropped one is not (retry)
        recorded = by_person(van)
        there = [e for e in uncertain if e.person in recorded]
        missing = [e for e in uncertain if e.person not in recorded]
        assert len(there) == 1 and len(missing) == 1
        monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(settings.data_dir))
        run = CliRunner().invoke
        assert run(app, ["writeback", "skip", there[0].event_id]).exit_code == 0
        assert run(app, ["writeback", "retry", missing[0].event_id]).exit_code == 0
        states = settle(ledger, len(bodies) + len(events))
        assert states[there[0].event_id] == "skipped"
        assert states[missing[0].event_id] == "posted"

        # every contact is in VAN exactly once, with the body the tool sent or the mapped one
        recorded = by_person(van)
        for person, body in bodies:
            assert recorded[person] == [body], person
        assert all(a.mode == 1 and a.app_name == "fieldstream-test" for a in van.recorded())
        for e in events[:3]:
            [got] = recorded[e["person"]["van_id"]]
            assert got["resultCodeId"] == 1 and got["canvassContext"]["contactTypeId"] == 2
            assert got["canvassContext"]["dateCanvassed"] == e["occurred_at"]
        [talked] = recorded["3003"]
        assert talked["resultCodeId"] is None
        assert talked["responses"] == [
            {"type": "SurveyResponse", "surveyQuestionId": 378552, "surveyResponseId": 1555794}
        ]

        # the kill: slow answers keep requests in flight; SIGKILL the write-back mid-send
        writeback = next(s for s in stack.services if s.name == "writeback")
        van.script(*[Action("slow", delay=5.0)] * 3)
        for i in range(3):
            post_van(settings, str(4000 + i), bodies[0][1])
        deadline = time.monotonic() + 60
        while not any(a.person.startswith("40") for a in van.recorded()):
            assert time.monotonic() < deadline, "no request reached VAN before the kill"
            time.sleep(0.05)
        os.killpg(writeback.proc.pid, signal.SIGKILL)
        writeback.proc.wait(10)
        in_flight = [e.event_id for e in ledger.entries("sending")]
        assert in_flight, "the kill found nothing in flight"
        assert stack.supervise() == []  # fieldstream up's supervisor starts it again
        assert writeback.proc.poll() is None
        states = settle(ledger, len(bodies) + len(events) + 3)
        for event_id in in_flight:
            assert states[event_id] == "uncertain"
            assert ledger.get(event_id).error_code == "crash_while_sending"  # type: ignore[union-attr]
        recorded = by_person(van)
        assert all(len(v) == 1 for v in recorded.values()), recorded

        # the tool's request (with its phone) is not in ClickHouse
        rows = httpx.post(
            f"http://{settings.sink.query_host}:{settings.sink.query_port}/query",
            content="SELECT * FROM contact_events",
            headers=admin_header(settings.query),
            timeout=30,
        )
        assert rows.status_code == 200 and PHONE not in rows.text
        count = json.loads(
            httpx.post(
                f"http://{settings.sink.query_host}:{settings.sink.query_port}/query",
                content="SELECT count() FROM contact_events",
                headers=admin_header(settings.query),
                timeout=30,
            ).text
        )["rows"][0][0]
        assert int(count) == len(bodies) + len(events) + 3

        # the boards' "in VAN: x of y": the ledger's states, published and stored
        want = {(src, state): n for (_, src, state), n in ledger.counts().items()}
        stored: dict[tuple[str, str], int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stored != want:
            rows = httpx.post(
                f"http://{settings.sink.query_host}:{settings.sink.query_port}/query",
                content="SELECT source_system, state, count() FROM van_writeback FINAL "
                "GROUP BY source_system, state",
                headers=admin_header(settings.query),
                timeout=30,
            ).json()["rows"]
            stored = {(r[0], r[1]): int(r[2]) for r in rows}
            time.sleep(0.5)
        assert stored == want


def test_pass_through_answers_with_vans_answer_and_keeps_the_contact_when_van_is_down(
    env: tuple[Settings, VanStandIn], tmp_path: Path
) -> None:
    settings, van = env
    sources = tmp_path / "sources.yaml"
    write_sources(
        sources,
        [
            SourceConfig.model_validate(
                {"id": "van-pt", "org_id": ORG, "secrets": [VAN_SECRET], "tool": "van",
                 "campaign_id": CAMPAIGN, "codes_file": str(CODES),
                 "options": {"pass_through": True, "van_app_name": "fieldstream-test"}}
            )
        ],
    )  # fmt: skip
    url = f"http://127.0.0.1:{settings.gateway.port}/v4/people/%s/canvassResponses"
    auth = {"Authorization": basic_auth("van-pt", VAN_SECRET, 0)}
    good = van_bodies()[0][1]
    bad = {"canvassContext": {"contactTypeId": 2}, "resultCodeId": 14, "responses": [
        {"type": "ActivistCode", "activistCodeId": 4482459, "action": "Apply"}]}  # fmt: skip
    with Stack(settings, tmp_path / "logs", start_broker=False) as stack:
        stack.start_core()
        stack.start_pipeline()
        ok = httpx.post(url % "5001", json=good, headers=auth, timeout=30)
        assert ok.status_code == 204 and ok.content == b""
        assert [(a.person, a.body, a.mode) for a in van.recorded()] == [("5001", good, 0)]
        refused = httpx.post(url % "5002", json=bad, headers=auth, timeout=30)
        assert refused.status_code == 400  # VAN's own answer, in VAN's words
        assert refused.json()["errors"][0]["text"] == (
            "'resultCodeId' must be null when responses are specified"
        )
        stop(van)
        down = httpx.post(url % "5003", json=good, headers=auth, timeout=30)
        assert down.status_code == 503
        assert down.json()["errors"][0]["code"] == "VAN_UNAVAILABLE"
        assert "recorded" in down.json()["errors"][0]["text"]

        ledger = ledger_of(settings)
        states = settle(ledger, 3)
        by_person_state = {ledger.get(e).person: s for e, s in states.items()}  # type: ignore[union-attr]
        # VAN's verdict from the pass-through decides: taken, refused (kept with VAN's error),
        # or not reached (the tool was told and owns the retry)
        assert by_person_state == {"5001": "passed", "5002": "rejected", "5003": "skipped"}
        [refused_entry] = [e for e in ledger.entries() if e.person == "5002"]
        assert refused_entry.error_code == "INVALID_PARAMETER"
        assert len(van.recorded()) == 1  # the write-back did not post the passed one again
        q = f"http://{settings.sink.query_host}:{settings.sink.query_port}/query"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = httpx.post(
                q,
                content="SELECT van_id FROM contact_events",
                headers=admin_header(settings.query),
                timeout=30,
            ).json()
            if {"5001", "5003"} <= {r[0] for r in rows["rows"]}:
                break
            time.sleep(0.5)
        assert {"5001", "5003"} <= {r[0] for r in rows["rows"]}
