"""Shifts and person signals in real chDB: their tables and views, and no contact counts.

Records come from the published fixtures through the adapters, the converter and the Avro
codec, as the sink receives them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from producers.tools.base import AdapterContext, Shift, Signal
from producers.tools.mobilize import shifts as mobilize_shifts
from producers.tools.van import signals as van_signals
from schemas import AvroCodec
from schemas.recordjson import PERSON_SIGNAL, VOLUNTEER_SHIFT, RecordJson
from sinks.migrate import migrate
from sinks.people_rows import SHIFT_COLUMNS, SIGNAL_COLUMNS, shift_row, signal_row
from sinks.remote import DirectAccess
from sinks.store import LockedStore, open_store

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
CODEC = AvroCodec()
NOW_MS = 1_800_000_000_000


def _decoded(converter: RecordJson, value: dict[str, Any]) -> dict[str, Any]:
    record, problems = converter.convert(value, NOW_MS)
    assert problems == [] and record is not None
    return CODEC.decode(CODEC.encode(converter.full_name, record))[1]


def shift_rows() -> list[list[Any]]:
    ctx = AdapterContext("mobilize:15", "org-a", "mobilize", campaign_id="gotv")
    converter = RecordJson(VOLUNTEER_SHIFT)
    rows = []
    for name in ("shifts_export.json", "shifts_history.jsonl"):
        text = (DATA / "mobilize" / name).read_text()
        for attendance in mobilize_shifts.parse_export(text):
            for item in mobilize_shifts.adapt(attendance, ctx):
                if isinstance(item, Shift):
                    rows.append(shift_row(_decoded(converter, item.record)))
    return rows


def signal_rows() -> list[list[Any]]:
    ctx = AdapterContext("van-1", "org-a", "van", campaign_id="gotv")
    converter = RecordJson(PERSON_SIGNAL)
    bodies = {
        "spoke_ngpvan_optout": ("101", "2026-10-01T10:00:00+00:00"),
        "parsons_activist_code_only": ("101", None),
        "parsons_activist_code_remove": ("101", None),
        "spoke_rewired_opt_out": ("202", None),
    }
    rows = []
    for name, (person, received) in bodies.items():
        payload = json.loads((DATA / "van" / f"{name}.json").read_text())
        for item in van_signals.signals(
            payload, ctx, id_type="vanid", person_id=person, received_at=received
        ):
            assert isinstance(item, Signal)
            rows.append(signal_row(_decoded(converter, item.record)))
    # 202 opts back in to texts later (same person): off the list again
    opt_in = json.loads((DATA / "van" / "spoke_ngpvan_optout.json").read_text())
    opt_in["canvassContext"]["phone"]["smsOptInStatus"] = "I"
    opt_in["canvassContext"]["dateCanvassed"] = "2026-10-02T10:00:00Z"
    [item] = van_signals.signals(opt_in, ctx, id_type="vanid", person_id="202")
    rows.append(signal_row(_decoded(converter, item.record)))
    return rows


def test_shifts_and_signals_land_in_their_own_tables(chdb_dsn: str) -> None:
    store = LockedStore(open_store(chdb_dsn))
    try:
        migrate(store.client)
        shifts, signals = shift_rows(), signal_rows()
        store.insert("volunteer_shifts", SHIFT_COLUMNS, shifts, "shifts:0")
        store.insert("volunteer_shifts", SHIFT_COLUMNS, shifts[:3], "shifts:1")  # a re-read
        store.insert("person_signals", SIGNAL_COLUMNS, signals, "signals:0")
        q = DirectAccess(store).query

        current = q(
            "SELECT shift_id, status, length(history) FROM volunteer_shift_current "
            "ORDER BY shift_id"
        )[1]
        assert [(r[0], r[1]) for r in current] == [
            ("198", "attended"),  # REGISTERED -> CONFIRMED -> attended, from the history
            ("199", "confirmed"),
            ("200", "attended"),
            ("201", "no_show"),
            ("202", "cancelled"),
        ]
        assert q("SELECT uniqExact(event_id) FROM volunteer_shifts")[1] == [[7]]
        totals = q(
            "SELECT sum(scheduled), sum(attended), sum(no_shows), sum(cancelled) "
            "FROM shift_progress_daily WHERE org_id = 'org-a'"
        )[1]
        assert totals == [[4, 2, 1, 1]]
        flake = q(
            "SELECT event_type, flake_rate FROM shift_progress_daily WHERE event_type = 'canvass'"
        )[1]
        assert [(r[0], float(r[1])) for r in flake] == [("canvass", 0.5)]

        listed = q(
            "SELECT channel, van_id, phone, source_system FROM do_not_contact "
            "WHERE org_id = 'org-a' ORDER BY van_id"
        )[1]
        assert listed == [["text", "101", "+15555550100", "van"]]  # 202 opted back in
        codes = q("SELECT person_key, code_type, code FROM person_codes")[1]
        assert codes == []  # 18917 applied on 2020-10-01, removed on 2020-10-02

        assert q("SELECT count() FROM contact_events")[1] == [[0]]  # never contacts
    finally:
        store.close()
