"""`fieldstream van codes` and `fieldstream writeback status|retry|skip` as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldstream.cli import app
from schemas.van_codes import load_codes
from sinks.writeback.ledger import Ledger, NewEntry
from tests.fakes.van_api import VanStandIn, running

DATA = Path(__file__).resolve().parents[1] / "data" / "van_api"
KEY = "11111111-2222-3333-4444-555555555555"


def test_van_codes_from_saved_lookups_writes_the_file_and_names_the_unmapped(
    tmp_path: Path,
) -> None:
    out = tmp_path / "codes.yaml"
    result = CliRunner().invoke(
        app, ["van", "codes", "--from", str(DATA / "committee"), "--out", str(out),
              "--source", "state-party-van"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "not mapped: result_codes 17 'Call Back'" in result.output
    assert load_codes(out).result_codes[18].result == "busy"


def test_van_codes_fetched_with_the_orgs_key_equals_the_saved_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(VanStandIn(app_name="app", api_keys=frozenset({KEY}), page_size=2)) as van:
        monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("FIELDSTREAM_VAN__BASE_URL", f"{van.url}/v4")
        monkeypatch.setenv("FIELDSTREAM_VAN__API_KEYS", json.dumps({"org": KEY}))
        fetched, saved = tmp_path / "fetched.yaml", tmp_path / "saved.yaml"
        args = ["van", "codes", "--source", "s", "--out"]
        r1 = CliRunner().invoke(
            app, [*args, str(fetched), "--fetch", "org", "--app-name", "app", "--mode", "1"]
        )
        r2 = CliRunner().invoke(app, [*args, str(saved), "--from", str(DATA / "committee")])
        assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
        assert fetched.read_text() == saved.read_text()


def test_writeback_status_retry_and_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path))
    ledger = Ledger(tmp_path / "writeback" / "ledger.sqlite")
    ledger.add(
        [NewEntry(f"e{i}", "org", "van", "c", 0.0, state=s, body="{}", person="1", mode=1)
         for i, s in enumerate(["uncertain", "uncertain", "posted", "rejected"])]
    )  # fmt: skip
    run = CliRunner().invoke
    shown = run(app, ["writeback", "status"])
    assert shown.exit_code == 0 and "e0" in shown.output and "e1" in shown.output
    assert run(app, ["writeback", "retry", "e0"]).exit_code == 0
    assert run(app, ["writeback", "skip"]).exit_code == 0  # every remaining uncertain one
    assert run(app, ["writeback", "retry", "--states", "rejected"]).exit_code == 0
    assert {e.event_id: e.state for e in ledger.entries()} == {
        "e0": "pending",
        "e1": "skipped",
        "e2": "posted",
        "e3": "pending",
    }
