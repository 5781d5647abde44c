"""Shifts and person signals through the real pipeline: gateway and importer -> Tansu -> sink ->
chDB, with the stream running beside them.

- a saved Mobilize export lands in volunteer_shifts (each sign-up's current state right) and
  never in contact_events or any contact count; importing it again adds nothing;
- opt-outs land in person_signals and on the do-not-contact list, including those whose payload
  is otherwise unusable: Spoke's VAN opt-out with an unknown result code and no contact type,
  a VAN body refused as malformed, a CallHub STOP reply naming no voter; ``fieldstream
  do-not-contact`` lists them;
- an OSDI record-canvass helper and CallHub's workflow webhook land as contacts, their tags as
  signals.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import OrgConfig, SourceConfig, write_programs, write_sources
from core.settings import KafkaSettings, Settings
from fieldstream.embedded import free_port
from fieldstream.stack import Stack, settings_env
from producers.tools.mobilize.export import import_export
from sinks.query_tokens import admin_header

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
ORG, CAMPAIGN, SECRET = "org-people", "gotv", "people-secret-for-tests"
SOURCES: list[dict[str, Any]] = [
    {"id": "van-src", "tool": "van", "codes_file": str(DATA / "van" / "codes_committee.yaml")},
    {"id": "callhub-src", "tool": "callhub", "options": {"person_fields": {"van_id": "van_id"}}},
    {
        "id": "osdi-src",
        "tool": "osdi",
        "options": {"person_id_is": "van_id", "tags_are": "activist_codes"},
    },
]


@pytest.fixture
def stack(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[Settings]:
    programs, sources = tmp_path / "programs.yaml", tmp_path / "sources.yaml"
    write_programs(programs, [OrgConfig(id=ORG, campaigns=[CAMPAIGN])])
    write_sources(
        sources,
        [
            SourceConfig.model_validate(
                {"org_id": ORG, "secrets": [SECRET], "campaign_id": CAMPAIGN} | s
            )
            for s in SOURCES
        ],
    )
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


def fixture(tool: str, name: str) -> Any:
    return json.loads((DATA / tool / name).read_text())


def post_all(settings: Settings) -> None:
    base = f"http://{settings.gateway.host}:{settings.gateway.port}"
    basic = "Basic " + base64.b64encode(f"van-src:{SECRET}|1".encode()).decode()
    with httpx.Client(base_url=base, timeout=30) as client:
        # Spoke's ngpvan-optout body: result 205 and no contact type (held), opt-out kept
        r = client.post(
            "/v4/people/101/canvassResponses",
            json=fixture("van", "spoke_ngpvan_optout.json"),
            headers={"Authorization": basic},
        )
        assert r.status_code == 204, r.text
        # a malformed body (a date that is none) is refused; its opt-out is still kept
        bad = fixture("van", "spoke_ngpvan_optout.json")
        bad["canvassContext"]["dateCanvassed"] = "last tuesday"
        r = client.post(
            "/v4/people/202/canvassResponses", json=bad, headers={"Authorization": basic}
        )
        assert r.status_code == 400 and r.json()["errors"][0]["properties"] == [
            "canvassContext.dateCanvassed"
        ]
        # an activist code applied without contact history: a signal, no attempt
        r = client.post(
            "/v4/people/303/canvassResponses",
            json=fixture("van", "parsons_activist_code_only.json"),
            headers={"Authorization": basic},
        )
        assert r.status_code == 204, r.text
        # CallHub: a STOP reply naming no voter (the documented reply keys), then the published
        # workflow webhook body, as CallHub posts it: no hook envelope
        stop = fixture("callhub", "sb_reply.json")
        r = client.post("/v1/hooks/callhub-src", params={"token": SECRET}, json=stop)
        assert r.status_code == 200 and r.json()["signals"] == 1 and r.json()["accepted"] == 0
        workflow = fixture("callhub", "cc_notes_workflow.json") | {"van_id": "404"}
        workflow["disposition"] = "ANSWER"
        r = client.post("/v1/hooks/callhub-src", params={"token": SECRET}, json=workflow)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        # OSDI: NGP VAN's dialect of the record-canvass helper, and a wrong key
        helper = fixture("osdi", "van_osdi_helper.json")
        path = "/osdi/osdi-src/people/505/record_canvass_helper"
        r = client.post(path, json=helper, headers={"OSDI-API-Token": SECRET})
        assert r.status_code == 200, r.text
        assert r.json()["identifiers"][0].startswith("fieldstream:")
        r = client.post(path, json=helper, headers={"OSDI-API-Token": "wrong"})
        assert r.status_code == 401 and r.json()["osdi:error"]["response_code"] == 401


def do_not_contact(settings: Settings, channel: str) -> list[dict[str, str]]:
    env = {**os.environ, **settings_env(settings)}
    command = [sys.executable, "-m", "fieldstream.cli", "do-not-contact", "--org", ORG]
    done = subprocess.run(
        [*command, "--channel", channel], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_shifts_are_never_contacts_and_opt_outs_are_listed(stack: Settings, tmp_path: Path) -> None:
    export = tmp_path / "mobilize.json"
    export.write_text((DATA / "mobilize" / "shifts_export.json").read_text())
    run = import_export(export, stack.kafka, org_id=ORG, campaign_id=CAMPAIGN)
    assert (run.sent, run.shifts, run.signals) == (0, 5, 2)  # no contact at all
    post_all(stack)

    shifts = "SELECT count() FROM volunteer_shift_current WHERE org_id = 'org-people'"
    assert wait_count(stack, shifts, 5) == 5
    states = query(
        stack,
        "SELECT shift_id, toString(status) FROM volunteer_shift_current "
        "WHERE org_id = 'org-people' ORDER BY shift_id",
    )
    assert states == [
        ["198", "registered"],
        ["199", "confirmed"],
        ["200", "attended"],
        ["201", "no_show"],
        ["202", "cancelled"],
    ]
    # the two contacts posted (CallHub's workflow call, OSDI's canvass) are all there is
    contacts = "SELECT count() FROM contact_events FINAL WHERE org_id = 'org-people'"
    assert wait_count(stack, contacts, 2) == 2
    assert query(
        stack,
        "SELECT toString(source_system), toString(channel), toString(result) "
        "FROM contact_events FINAL WHERE org_id = 'org-people' ORDER BY source_system",
    ) == [["callhub", "phone", "canvassed"], ["osdi", "door", "canvassed"]]
    progress = "SELECT sum(attempts) FROM contact_progress_daily WHERE org_id = 'org-people'"
    assert int(query(stack, progress)[0][0]) == 2

    # signals: VAN opt-outs (2), the activist code, CallHub's STOP, OSDI's activist code and
    # Mobilize's two SMS statuses
    signals = "SELECT count() FROM person_signals FINAL WHERE org_id = 'org-people'"
    assert wait_count(stack, signals, 7) == 7
    texts = do_not_contact(stack, "text")
    listed = {(r["van_id"], r["phone"], r["source_system"]) for r in texts}
    assert listed >= {
        ("101", "+15555550100", "van"),  # unknown result code, no contact type: still listed
        ("202", "+15555550100", "van"),  # body refused (400): still listed
        ("", "+16507868629", "callhub"),  # a STOP reply naming no voter: its number
    }
    assert any(r["vendor_id"] == "mobilize:60" for r in texts)  # Mobilize's OPT_OUT
    assert not any(r["vendor_id"] == "mobilize:57" for r in texts)  # its OPT_IN
    assert do_not_contact(stack, "phone") == []
    codes = query(
        stack,
        "SELECT person_key, code FROM person_codes WHERE org_id = 'org-people' ORDER BY person_key",
    )
    assert codes == [["van:303", "18917"], ["van:505", "18917"]]

    # the same export again changes nothing
    again = import_export(export, stack.kafka, org_id=ORG, campaign_id=CAMPAIGN, restart=True)
    assert again.shifts == 5
    time.sleep(3)
    assert int(query(stack, shifts)[0][0]) == 5
    assert int(query(stack, "SELECT uniqExact(event_id) FROM volunteer_shifts")[0][0]) == 5
    assert int(query(stack, contacts)[0][0]) == 2
