"""Importers against a real Tansu: idempotent re-imports, resume, bad rows, DLQ, Mobilize poll."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer
from pydantic import SecretStr

from core.kafka import consumer_config
from core.settings import KafkaSettings, Settings
from fieldstream.stack import settings_env
from producers.importers import checkpoint as cp
from producers.tools.csv.importer import import_mapped_csv
from producers.tools.mobilize.poller import MobilizeSettings, poll_attendances
from producers.tools.van.export import import_van_export
from schemas.codec import AvroCodec

pytestmark = pytest.mark.integration
DATA = Path(__file__).parents[1] / "data"


def _consume(kafka: KafkaSettings, topic: str, want: int) -> list[tuple[str | None, dict]]:
    """Every message of ``topic`` (at least ``want``; then until 2 s without news)."""
    conf = consumer_config(
        kafka, f"check-{topic}-{time.time()}", fetch_wait_ms=20, session_timeout_s=6.0
    )
    consumer = Consumer(conf)
    consumer.subscribe([topic])
    codec = AvroCodec()
    out: list[tuple[str | None, dict]] = []
    deadline, quiet_until = time.monotonic() + 60, None
    try:
        while time.monotonic() < deadline:
            msgs = [m for m in consumer.consume(500, timeout=0.5) if m.error() is None]
            for msg in msgs:
                key, value = msg.key(), msg.value()
                assert value is not None
                _, rec = codec.decode(value)
                out.append((key.decode() if key else None, rec))
            if len(out) >= want:
                if msgs:
                    quiet_until = time.monotonic() + 2
                elif quiet_until and time.monotonic() > quiet_until:
                    break
                quiet_until = quiet_until or time.monotonic() + 2
    finally:
        consumer.close()
    return out


def test_van_export_twice_adds_nothing(tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    path = tmp_path / "contact_history.csv"
    shutil.copy(DATA / "van_export" / "contact_history.csv", path)
    name = cp.import_name([path])
    ckpt = cp.default_path(tmp_path / "var", name)
    kwargs: dict[str, Any] = {"org_id": "demo-org", "campaign_id": "gotv-2026"}
    first = import_van_export(path, kafka_settings, checkpoint_path=ckpt, **kwargs)
    assert (first.sent, first.dead_lettered, first.complete) == (8, 2, True)
    assert [b.line for b in first.bad] == [10, 12] and first.bad_lines == [10, 12]
    assert "DateCanvassed" in str(first.bad[0]) and "VanID" in str(first.bad[1])
    text = str(first)
    assert "2 bad row(s), not imported:" in text and first.rejected
    assert "line 10: DateCanvassed: is missing" in text
    assert f"Every bad row with its reason: {cp.rejects_path(ckpt)}" in text
    rejects = cp.rejects_path(ckpt).read_text().splitlines()
    assert rejects[0] == "line,problem" and rejects[1].startswith("10,DateCanvassed")
    assert len(rejects) == 3
    # the checkpoint says it is all done: a second run reads nothing again
    again = import_van_export(path, kafka_settings, checkpoint_path=ckpt, **kwargs)
    assert (again.sent, again.skipped, again.bad_lines) == (0, 12, [10, 12])
    assert "(2 in earlier runs of this import)" in str(again)
    # --restart sends everything again: same event ids, so nothing new for the pipeline
    restarted = import_van_export(
        path, kafka_settings, checkpoint_path=ckpt, restart=True, **kwargs
    )
    assert restarted.sent == 8
    raw = _consume(kafka_settings, kafka_settings.topics.raw, 16)
    assert len(raw) == 16
    ids = {key for key, _ in raw}
    assert len(ids) == 8 and all(key == str(rec["event_id"]) for key, rec in raw)
    letters = _consume(kafka_settings, kafka_settings.topics.dlq, 4)
    assert sorted({(r["source_offset"], r["reason_code"]) for _, r in letters}) == [
        (9, "unknown_result_code"),
        (11, "unknown_contact_type"),
    ]
    assert {r["source_topic"] for _, r in letters} == {f"import:{name}"}
    assert cp.read_spec(tmp_path / "var", name)["kind"] == "van-export"
    assert all(r["source_partition"] == -1 for _, r in letters)


def test_resume_after_interrupted_run(tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    path = tmp_path / "attempts.csv"
    shutil.copy(DATA / "csv_mapped" / "attempts.csv", path)
    mapping = DATA / "csv_mapped" / "attempts.mapping.yaml"
    ckpt = tmp_path / "state.json"
    first = import_mapped_csv(
        path, mapping, kafka_settings, org_id="demo-org", checkpoint_path=ckpt, stop_after=3
    )
    assert (first.sent, first.last_line, first.complete) == (3, 4, False)
    assert "run again to resume" in str(first)
    assert cp.load(ckpt, cp.import_name([path])).line == 4
    rest = import_mapped_csv(
        path, mapping, kafka_settings, org_id="demo-org", checkpoint_path=ckpt, progress=True
    )
    assert (rest.sent, rest.skipped, rest.dead_lettered, rest.complete) == (2, 3, 1, True)
    assert rest.bad_lines == [7, 9]
    raw = _consume(kafka_settings, kafka_settings.topics.raw, 5)
    got = sorted(rec["source_event_id"] for _, rec in raw)
    assert got == ["A-1001", "A-1002", "A-1003", "A-1004", "A-1005"]  # no gap, no repeat


def test_mobilize_poll(tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    pages = [
        json.loads((DATA / "mobilize" / f"attendances_page{n}.json").read_text()) for n in (1, 2)
    ]
    newest = max(a["modified_date"] for p in pages for a in p["data"])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if int(request.url.params.get("updated_since", "0")) >= newest:
            return httpx.Response(
                200, json={"count": 0, "next": None, "previous": None, "data": []}
            )
        return httpx.Response(
            200, json=pages[1] if request.url.params.get("page") == "2" else pages[0]
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    settings = MobilizeSettings(organization_id=15, api_token=SecretStr("tok"))
    ckpt = tmp_path / "mobilize.checkpoint"
    kwargs: dict[str, Any] = {
        "org_id": "demo-org",
        "campaign_id": "gotv-2026",
        "checkpoint_path": ckpt,
    }
    first = poll_attendances(settings, kafka_settings, client=client, **kwargs)
    # volunteer shifts, never contacts: six sign-ups, nothing on contacts.raw
    assert (first.sent, first.shifts, first.dead_lettered) == (0, 6, 0)
    assert cp.load(ckpt, "mobilize-15").state["updated_since"] == newest
    second = poll_attendances(settings, kafka_settings, client=client, **kwargs)
    assert second.sent == 0 and second.shifts == 0
    assert seen[-1].url.params["updated_since"] == str(newest)
    shifts = _consume(kafka_settings, kafka_settings.topics.shifts, 6)
    assert sorted(rec["source_event_id"] for _, rec in shifts) == [
        "198001:attended",
        "198002:no_show",
        "198003:cancelled",
        "198004:registered",
        "198005:attended",
        "198006:no_show",
    ]


def test_pipeline_tables_land_each_contact_with_its_answers(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    tables = [
        DATA / "van_export" / name
        for name in (
            "contactscontacts_vf.csv",
            "contactssurveyresponses_vf.csv",
            "contactsactivistcodes_vf.csv",
        )
    ]
    name = cp.import_name(tables)
    summary = import_van_export(
        tables,
        kafka_settings,
        org_id="demo-org",
        campaign_id="gotv-2026",
        codes_file=DATA / "van" / "codes_committee.yaml",
        checkpoint_path=cp.default_path(tmp_path / "var", name),
    )
    # six contacts rows and one contact known only by its survey response
    assert (summary.sent, summary.dead_lettered, summary.partial) == (7, 1, 1)
    assert not summary.rejected and "name no contact" in str(summary)
    raw = {
        rec["source_event_id"]: rec
        for _, rec in _consume(kafka_settings, kafka_settings.topics.raw, 7)
    }
    assert len(raw) == 7
    partial = raw["800000201"]
    assert [r["question_id"] for r in partial["responses"]] == ["2020VotePPE"]
    assert partial["unmapped_responses"][0]["question"] == "555001"
    assert partial["activist_codes"] == ["EdayIssue-PollWorker"]
    assert raw["800000207"]["result"] == "canvassed"
    [(_, letter)] = _consume(kafka_settings, kafka_settings.topics.dlq, 1)
    assert letter["counted"] is True and letter["source_topic"] == f"import:{name}"
    assert letter["reason_code"] == "unknown_survey_question"


def test_the_import_command_exits_1_and_keeps_its_files_in_the_data_directory(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    share = tmp_path / "share"  # where the export was downloaded: nothing is written there
    share.mkdir()
    shutil.copy(DATA / "van_export" / "contact_history.csv", share / "ContactHistory.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
    env.update(settings_env(Settings(data_dir=tmp_path / "var", kafka=kafka_settings)))
    run = subprocess.run(
        [sys.executable, "-m", "fieldstream.cli", "import", "van-export",
         str(share / "ContactHistory.csv"), "--org", "demo-org", "--campaign", "gotv-2026"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "line 10: DateCanvassed: is missing" in run.stderr
    assert sorted(p.name for p in share.iterdir()) == ["ContactHistory.csv"]
    imports = sorted(p.name for p in (tmp_path / "var" / "imports").iterdir())
    name = cp.import_name([share / "ContactHistory.csv"])
    assert imports == [f"{name}.checkpoint", f"{name}.rejects.csv"]
