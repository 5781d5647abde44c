"""Partial maps, live codes and replays on the real pipeline (Tansu, the stream, the sink, chDB).

A VAN-compatible tool posts canvass responses whose survey question the committee's codes file
does not know yet, and one whose result code it does not know. The contacts with an unknown
question are counted at once with that answer held; the one with an unknown result is held
whole; the board's panel says so per source and reason. The data manager then adds the codes
to the file while everything runs: the gateway takes the edit without a restart (a new body
with that question lands complete), and ``fieldstream dlq replay`` lands the held contacts
once. Every count equals a recount from contact_events, and replaying again changes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from core.config import OrgConfig, SourceConfig, write_programs, write_sources
from core.settings import KafkaSettings, Settings
from fieldstream.embedded import free_port
from fieldstream.stack import Stack, settings_env
from sinks.query_tokens import admin_token

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
ORG, CAMPAIGN, SECRET = "org-held", "gotv", "held-secret-for-tests"
KNOWN = {"type": "SurveyResponse", "surveyQuestionId": 378552, "surveyResponseId": 1555791}
UNKNOWN = {"type": "SurveyResponse", "surveyQuestionId": 555001, "surveyResponseId": 777002}
WHEN = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0).isoformat()


def body(*responses: dict[str, Any], result: int | None = None) -> dict[str, Any]:
    return {
        "canvassContext": {"contactTypeId": 2, "dateCanvassed": WHEN},
        "resultCodeId": result,
        "responses": list(responses) or None,
    }


@pytest.fixture
def stack(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[tuple[Settings, Stack]]:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA / "van" / "codes_committee.yaml", data / "van-codes.yaml")
    write_programs(data / "programs.yaml", [OrgConfig(id=ORG, campaigns=[CAMPAIGN])])
    source = {"id": "van-app", "org_id": ORG, "secrets": [SECRET], "tool": "van"}
    source |= {"campaign_id": CAMPAIGN, "codes_file": "van-codes.yaml"}
    write_sources(data / "sources.yaml", [SourceConfig.model_validate(source)])
    settings = Settings(data_dir=data, kafka=kafka_settings)
    settings.gateway.port = free_port()
    settings.gateway.reload_check_s = 0.5
    settings.stream.web_port = free_port()
    settings.sink.query_port = free_port()
    with Stack(settings, data / "logs", start_broker=False) as s:
        s.start_core()
        s.start_pipeline()
        yield settings, s


def post(settings: Settings, van_id: str, payload: dict[str, Any]) -> None:
    basic = base64.b64encode(f"van-app:{SECRET}|1".encode()).decode()
    r = httpx.post(
        f"http://{settings.gateway.host}:{settings.gateway.port}/v4/people/{van_id}/canvassResponses",
        json=payload,
        headers={"Authorization": f"Basic {basic}"},
        timeout=30,
    )
    assert r.status_code == 204, r.text


def query(settings: Settings, sql: str) -> list[list[Any]]:
    url = f"http://{settings.sink.query_host}:{settings.sink.query_port}/query"
    auth = {"authorization": f"Bearer {admin_token(settings.query)}"}  # the sink made it
    r = httpx.post(url, content=sql, headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["rows"])


def wait_for(settings: Settings, sql: str, want: Any, timeout_s: float = 120) -> Any:
    deadline, got = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        got = query(settings, sql)
        if got == want:
            return got
        time.sleep(0.5)
    return got


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
    env.update(settings_env(settings))
    return subprocess.run(
        [sys.executable, "-m", "fieldstream.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


HELD = "SELECT source, reason_code, held_whole, counted_partial FROM held_by_source ORDER BY 2"
COUNTS = (
    "SELECT sum(attempts), sum(contacts), sum(ids), sum(ids_support) FROM contact_progress_daily "
    f"WHERE org_id = '{ORG}'"
)
RECOUNT = (
    "SELECT count(), countIf(is_contact = 1), countIf(has_id = 1), "
    "countIf(has_id = 1 AND support_level IN (1, 2)) "
    f"FROM contact_events FINAL WHERE org_id = '{ORG}'"
)


def test_partial_contacts_count_at_once_and_a_codes_fix_lands_the_held_ones_once(
    stack: tuple[Settings, Stack],
) -> None:
    settings, services = stack
    for van_id in ("101", "102", "103"):  # each: a known answer and one the map does not know
        post(settings, van_id, body(KNOWN, UNKNOWN))
    post(settings, "104", body(UNKNOWN))  # only the unknown answer: no ID until it is known
    post(settings, "105", body(KNOWN))  # complete
    post(settings, "106", body(result=901))  # a result code the map does not know

    events = "SELECT count() FROM contact_events FINAL"
    assert wait_for(settings, events, [[5]]) == [[5]]
    want_held = [
        ["van-app", "unknown_result_code", 1, 0],
        ["van-app", "unknown_survey_question", 0, 4],
    ]
    assert wait_for(settings, HELD, want_held) == want_held
    partial = query(
        settings,
        "SELECT van_id, unmapped_responses.question, unmapped_responses.answer, responses.answer "
        "FROM contact_events FINAL WHERE length(unmapped_responses.question) > 0 ORDER BY van_id",
    )
    assert partial == [
        ["101", ["555001"], ["777002"], ["Yes - Early"]],
        ["102", ["555001"], ["777002"], ["Yes - Early"]],
        ["103", ["555001"], ["777002"], ["Yes - Early"]],
        ["104", ["555001"], ["777002"], []],
    ]
    before = wait_for(settings, COUNTS, query(settings, RECOUNT))
    assert before == query(settings, RECOUNT) == [[5, 5, 4, 4]]

    listed = cli(settings, "dlq", "list", "--summary", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    by_reason = json.loads(listed.stdout)
    assert {(r["reason_code"], r["held_whole"], r["counted_answers_held"]) for r in by_reason} == {
        ("unknown_result_code", 1, 0),
        ("unknown_survey_question", 0, 4),
    }
    assert "5 held contact(s): 1 held whole, 4 counted" in listed.stderr
    contacts = cli(settings, "dlq", "list", "--reason", "unknown_survey_question")
    assert contacts.returncode == 0 and contacts.stdout.count("\tvan-app\t") == 4  # piped: tsv

    # a replay before anything was fixed sends them again and changes nothing
    unfixed = cli(settings, "dlq", "replay", "--wait", "60")
    assert unfixed.returncode == 1, unfixed.stderr  # still held
    assert "counted, survey answers still held" in unfixed.stdout
    time.sleep(2)
    assert query(settings, HELD) == want_held
    assert query(settings, COUNTS) == query(settings, RECOUNT) == before

    # the data manager adds the question and the result code; the gateway keeps running
    gateway = next(s.proc for s in services.services if s.name == "gateway")
    codes = settings.data_dir / "van-codes.yaml"
    learned = yaml.safe_load(codes.read_text())
    learned["survey_questions"][555001] = {
        "name": "Volunteer",
        "responses": {777002: {"answer": "Yes", "support_level": 1}},
    }
    learned["result_codes"] = {901: {"name": "Came Back Later", "result": "not_home"}}
    codes.write_text(yaml.safe_dump(learned))
    log = settings.data_dir / "logs" / "gateway.log"
    deadline = time.monotonic() + 30
    while "sources reloaded" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "sources reloaded" in log.read_text()
    post(settings, "107", body(KNOWN, UNKNOWN))  # after the edit: complete at once
    new = (
        "SELECT length(unmapped_responses.question) FROM contact_events FINAL WHERE van_id = '107'"
    )
    assert wait_for(settings, new, [[0]]) == [[0]]
    assert gateway.poll() is None  # the same gateway process, never restarted

    replayed = cli(settings, "dlq", "replay", "--wait", "90")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "landed (counted, complete)" in replayed.stdout
    assert wait_for(settings, HELD, []) == []
    complete = query(
        settings,
        "SELECT van_id, toString(result), length(unmapped_responses.question), has_id "
        "FROM contact_events FINAL ORDER BY van_id",
    )
    assert complete == [
        ["101", "canvassed", 0, 1],
        ["102", "canvassed", 0, 1],
        ["103", "canvassed", 0, 1],
        ["104", "canvassed", 0, 1],  # its ID counts now
        ["105", "canvassed", 0, 1],
        ["106", "not_home", 0, 0],
        ["107", "canvassed", 0, 1],
    ]
    after = wait_for(settings, COUNTS, query(settings, RECOUNT))
    assert after == query(settings, RECOUNT) == [[7, 6, 6, 6]]

    again = cli(settings, "dlq", "replay", "--wait", "30")
    assert again.returncode == 0 and "nothing is held back" in again.stderr
    time.sleep(2)
    assert query(settings, COUNTS) == query(settings, RECOUNT) == after
    assert query(settings, "SELECT count() FROM contact_events FINAL") == [[7]]
