"""Importer row adapters, mapping files, checkpoints, dead letters and Mobilize paging."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from core.errors import ConfigError
from producers.importers import checkpoint as cp
from producers.importers.runner import read_csv
from producers.intake import Origin, import_topic, unmapped_letter
from producers.tools.base import AdapterContext, PayloadError, Unmapped
from producers.tools.csv import importer as csv_mapped
from producers.tools.mobilize import poller as mobilize
from producers.tools.van import export as van_export
from schemas import DEAD_LETTER, AvroCodec
from schemas.jsonconv import ContactJson
from schemas.rules import RESULTS_BY_CHANNEL

DATA = Path(__file__).parents[1] / "data"
NOW_MS = 1_800_000_000_000
CONVERT = ContactJson()


def _ctx(system: str, **kw: Any) -> AdapterContext:
    return AdapterContext(
        source_id="test", org_id="demo-org", source_system=system, campaign_id="gotv-2026", **kw
    )


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def _converts(event: Any) -> dict[str, Any]:
    assert isinstance(event, dict)
    record, problems = CONVERT.convert(event, NOW_MS)
    assert problems == [] and record is not None
    return record


# --- VAN exports -------------------------------------------------------------------------


def _van_rows(name: str) -> list[tuple[int, dict[str, Any]]]:
    return list(read_csv(DATA / "van_export" / name))


def test_van_sync_table_rows_convert() -> None:
    ctx = _ctx("van")
    events = [van_export.adapt(row, ctx)[0] for _, row in _van_rows("contactscontacts_vf.csv")]
    records = [_converts(e) for e in events]
    assert [r["result"] for r in records] == [
        "canvassed", "not_home", "moved", "deceased", "inaccessible", "vacant",
    ]  # fmt: skip
    first = records[0]
    assert first["source_event_id"] == "800000201" and first["person"]["van_id"] == "2000001"
    assert first["person"]["state"] == "PA" and first["team_id"] == "31"
    assert first["channel"] == "door" and first["contact_type"] == "walk"
    assert first["input_method"] == "api" and first["canvasser_id"] == "700011"
    assert _iso(first["occurred_at"]) == "2026-11-02T09:00:00+00:00"


def test_van_changed_entity_rows_good_unmapped_and_bad() -> None:
    ctx = _ctx("van", options={"timezone": "America/New_York"})
    seen: dict[str, Any] = {}
    for line, row in _van_rows("contact_history.csv"):
        try:
            items = van_export.adapt(row, ctx)
        except PayloadError as exc:
            seen[row["ContactsContactID"]] = exc
            continue
        seen[row["ContactsContactID"]] = items[0]
        assert line >= 2
    good = {k: _converts(v) for k, v in seen.items() if isinstance(v, dict)}
    assert _iso(good["900000101"]["occurred_at"]) == "2026-11-01T15:15:00+00:00"
    assert good["900000104"]["result"] == "busy" and good["900000104"]["channel"] == "phone"
    assert good["900000106"]["result"] == "do_not_text" and good["900000106"]["opt_out"]
    assert good["900000112"]["result"] == "do_not_call" and good["900000112"]["opt_out"]
    assert isinstance(seen["900000108"], Unmapped)
    assert seen["900000108"].reason_code == "unknown_result_code"
    assert "13" in seen["900000108"].reason and "1000008" not in seen["900000108"].reason
    assert isinstance(seen["900000110"], Unmapped)
    assert seen["900000110"].reason_code == "unknown_contact_type"
    assert seen["900000109"].field == "DateCanvassed"
    assert seen["900000111"].field == "VanID"


@pytest.mark.parametrize("code", [str(n) for n in sorted(int(c) for c in van_export.RESULT_MAP)])
def test_van_every_result_code_converts(code: str) -> None:
    result = van_export.RESULT_MAP[code]
    channel_type = next(
        t for t, ch in van_export.CHANNEL_MAP.items() if result in RESULTS_BY_CHANNEL[ch]
    )
    row = {
        "contacts_contact_id": "5",
        "myv_van_id": "77",
        "datetime_canvassed": "2026-10-01 12:00:00",
        "contact_type_id": channel_type,
        "result_id": code,
    }
    record = _converts(van_export.adapt(row, _ctx("van"))[0])
    assert record["result"] == result and record["result_raw"] == code


def test_van_committee_campaigns_and_missing_campaign() -> None:
    row = {"ContactsContactID": "1", "VanID": "2", "DateCanvassed": "10/01/2026 1:00:00 PM"}
    row |= {"ContactTypeID": "2", "ResultID": "14", "CommitteeID": "55001"}
    ctx = _ctx("van", options={"committee_campaigns": {55001: "persuasion-2026"}})
    record = _converts(van_export.adapt(row, ctx)[0])
    assert record["campaign_id"] == "persuasion-2026"
    assert _iso(record["occurred_at"]) == "2026-10-01T13:00:00+00:00"
    bare = AdapterContext(source_id="x", org_id="o", source_system="van")
    with pytest.raises(PayloadError) as err:
        van_export.adapt(row, bare)
    assert err.value.field == "campaign_id"


# --- generic CSV ---------------------------------------------------------------------------


def test_csv_mapped_rows() -> None:
    mapping = csv_mapped.load_mapping(DATA / "csv_mapped" / "attempts.mapping.yaml")
    ctx = AdapterContext(source_id="test", org_id="demo-org", source_system=mapping.source_system)
    out: dict[int, Any] = {}
    for line, row in read_csv(DATA / "csv_mapped" / "attempts.csv"):
        try:
            out[line] = csv_mapped.adapt(row, ctx, mapping)
        except PayloadError as exc:
            out[line] = exc
    records = [_converts(out[n][0]) for n in range(2, 7)]
    assert [r["result"] for r in records] == [
        "canvassed", "not_home", "refused", "moved", "lit_drop",
    ]  # fmt: skip
    first = records[0]
    assert first["source_system"] == "door-app" and first["source_event_id"] == "A-1001"
    assert first["campaign_id"] == "gotv-2026" and first["turf_id"] == "T-12"
    assert _iso(first["occurred_at"]) == "2026-11-03T15:15:00+00:00"
    assert first["result_raw"] == "Talked" and first["input_method"] == "bulk_import"
    assert isinstance(out[7], PayloadError) and out[7].field == "Attempted At"
    assert isinstance(out[8][0], Unmapped) and "'Dog'" in out[8][0].reason
    record, problems = CONVERT.convert(out[9][0], NOW_MS)
    assert record is None and problems[0].field == "person"


def _mapping(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id_columns": ["ID"],
        "columns": {"occurred_at": "When", "result": "R", "person.van_id": "V"},
        "constants": {"channel": "phone"},
    }
    return base | changes


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        (_mapping(colums={}), "colums"),
        (_mapping(id_columns=[]), "id_columns"),
        (_mapping(columns={"occurred_at": "When", "result": "R", "van": "V"}), "columns.van"),
        (_mapping(values={"result": {"NH": "nothome"}}), "values.result.NH"),
        (_mapping(values={"turf_id": {"a": "b"}}), "values.turf_id"),
        (_mapping(constants={"channel": "fax"}), "constants.channel"),
        (_mapping(constants={}), "columns.channel"),
        (_mapping(columns={"occurred_at": "When", "result": "R"}), "columns.person"),
        (_mapping(timezone="Mars/Base"), "timezone"),
        (_mapping(date_format="dd/mm"), "date_format"),
    ],
)
def test_bad_mapping_names_the_key(doc: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        csv_mapped.parse_mapping(doc)
    assert f"{key}:" in str(err.value)


def test_mapping_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        csv_mapped.load_mapping(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        csv_mapped.load_mapping(bad)


# --- Mobilize ----------------------------------------------------------------------------


def _pages() -> list[dict[str, Any]]:
    names = ("attendances_page1.json", "attendances_page2.json")
    return [json.loads((DATA / "mobilize" / n).read_text()) for n in names]


def test_mobilize_attendances_are_shifts_never_contacts() -> None:
    ctx = _ctx("mobilize")
    atts = {a["id"]: a for page in _pages() for a in page["data"]}
    got = {k: mobilize.adapt(a, ctx) for k, a in atts.items()}
    assert not [i for items in got.values() for i in items if isinstance(i, dict)]
    states = {k: items[0].record["status"] for k, items in got.items()}
    assert states == {
        198001: "attended",
        198002: "no_show",
        198003: "cancelled",
        198004: "registered",
        198005: "attended",
        198006: "no_show",
    }
    attended = got[198001][0].record
    assert attended["person"]["vendor_id"] == "mobilize:57001"
    assert attended["volunteer_event_id"] == "mobilize-event:345"
    assert attended["shift_start"] == "2025-11-02T14:00:00+00:00"
    assert {items[0].record["event_type"] for items in got.values()} == {
        "canvass", "phone_bank", "text_bank", "meeting",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("drop", "field"),
    [("status", "status"), ("person", "person"), ("event", "event")],
)
def test_mobilize_malformed(drop: str, field: str) -> None:
    att = dict(_pages()[0]["data"][0])
    del att[drop]
    with pytest.raises(PayloadError) as err:
        mobilize.adapt(att, _ctx("mobilize"))
    assert err.value.field == field
    att = dict(_pages()[0]["data"][0], status="MAYBE")
    with pytest.raises(PayloadError, match="status"):
        mobilize.adapt(att, _ctx("mobilize"))


def _mock_client(seen: list[httpx.Request]) -> httpx.Client:
    page1, page2 = _pages()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != "Bearer tok":
            return httpx.Response(403, json={"data": None, "error": {"detail": "bad key"}})
        page = page2 if request.url.params.get("page") == "2" else page1
        return httpx.Response(200, json=page)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_mobilize_fetch_follows_next() -> None:
    seen: list[httpx.Request] = []
    settings = mobilize.MobilizeSettings(organization_id=15, api_token=SecretStr("tok"))
    got = list(mobilize.fetch_attendances(_mock_client(seen), settings, 1762000000))
    assert [a["id"] for a in got] == [198001, 198002, 198003, 198004, 198005, 198006]
    assert seen[0].url.path == "/v1/organizations/15/attendances"
    assert seen[0].url.params["updated_since"] == "1762000000"
    assert seen[1].url.params["page"] == "2"
    bad = mobilize.MobilizeSettings(organization_id=15, api_token=SecretStr("nope"))
    with pytest.raises(Exception, match="403"):
        list(mobilize.fetch_attendances(_mock_client([]), bad, 0))
    with pytest.raises(ConfigError, match="api_token"):
        no_token = mobilize.MobilizeSettings(organization_id=1)
        list(mobilize.fetch_attendances(_mock_client([]), no_token, 0))


# --- checkpoint, dead letters, CSV reading -----------------------------------------------


def test_checkpoint_lives_in_the_data_directory_named_after_the_import(tmp_path: Path) -> None:
    share = tmp_path / "share"  # a read-only share: nothing is written beside the input
    share.mkdir()
    (share / "export.csv").write_text("a\n1\n")
    share.chmod(0o555)
    name = cp.import_name([share / "export.csv"])
    assert name.startswith("export.csv-") and name != cp.import_name([tmp_path / "export.csv"])
    path = cp.default_path(tmp_path / "var", name)
    assert path == tmp_path / "var" / "imports" / f"{name}.checkpoint"
    assert cp.rejects_path(path) == tmp_path / "var" / "imports" / f"{name}.rejects.csv"
    cp.save(path, cp.Checkpoint(source=name, spec={"tool": "csv", "org_id": "o"}))
    assert cp.read_spec(tmp_path / "var", name) == {"tool": "csv", "org_id": "o"}
    assert sorted(p.name for p in share.iterdir()) == ["export.csv"]
    with pytest.raises(ConfigError, match="does not say"):
        cp.save(path, cp.Checkpoint(source=name))
        cp.read_spec(tmp_path / "var", name)


def test_checkpoint_round_trip_and_wrong_source(tmp_path: Path) -> None:
    path = cp.default_path(tmp_path, "export.csv-1234abcd")
    assert cp.load(path, "export.csv") == cp.Checkpoint(source="export.csv")
    state = cp.Checkpoint(source="export.csv", line=41, sent=39, state={"updated_since": 5})
    state.add_bad(7)
    cp.save(path, state)
    assert cp.load(path, "export.csv") == state
    assert not path.with_name(path.name + ".tmp").exists()
    with pytest.raises(ConfigError, match="--restart"):
        cp.load(path, "other.csv")
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        cp.load(path, "export.csv")


def test_dead_letter_encodes() -> None:
    unmapped = Unmapped("unknown_result_code", "VAN result code 13 ...", "900000108")
    origin = Origin("src", "demo-org", "van", import_topic("export.csv"), offset=9)
    letter = unmapped_letter(b'{"a": 1}', unmapped, origin, NOW_MS)
    assert letter["source_topic"] == "import:export.csv" and letter["source_partition"] == -1
    assert letter["stage"] == "gateway" and letter["event_id"]
    codec = AvroCodec()
    _, decoded = codec.decode(codec.encode(DEAD_LETTER, letter), expect=DEAD_LETTER)
    assert decoded["source_offset"] == 9 and decoded["original"] == b'{"a": 1}'


def test_read_csv_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('a,b\n1,"two\nlines"\n3,4\n')
    assert [line for line, _ in read_csv(path)] == [2, 4]


def test_read_csv_progress_is_bytes_read(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "1,2\n" * 50_000)
    rows = read_csv(path)
    done, totals = zip(*(rows.progress() for _ in rows), strict=True)
    assert set(totals) == {path.stat().st_size}
    assert list(done) == sorted(done) and 0 < done[0] < done[-1] == path.stat().st_size


def test_csv_mapping_fills_the_evidence_fields() -> None:
    from producers.tools.csv.importer import adapt as csv_adapt
    from producers.tools.csv.importer import parse_mapping

    mapping = parse_mapping(
        {
            "id_columns": ["ID"],
            "columns": {
                "occurred_at": "When", "result": "Result", "channel": "Channel",
                "person.voter_id": "Voter", "person.state": "State", "canvasser_id": "Who",
                "shift_id": "Walk", "location.lat": "Lat", "location.lon": "Lon",
                "location.accuracy_m": "Acc", "call_duration_s": "Secs", "reached": "Reached",
            },
        }
    )  # fmt: skip
    row = {"ID": "1", "When": "2026-10-03T15:00:00Z", "Result": "canvassed", "Channel": "phone",
           "Voter": "V1", "State": "pa", "Who": "k1", "Walk": "w-7", "Lat": "40,5",
           "Lon": "-75.25", "Acc": "12", "Secs": "61.6", "Reached": "person"}  # fmt: skip
    [event] = csv_adapt(row, _ctx("csv"), mapping)
    assert isinstance(event, dict)
    record = _converts(event)
    assert record["location"] == {"lat": 40.5, "lon": -75.25, "accuracy_m": 12.0}
    assert (record["call_duration_s"], record["reached"], record["shift_id"]) == (
        62,
        "person",
        "w-7",
    )
    with pytest.raises(PayloadError, match="not a number"):
        csv_adapt({**row, "Lat": "north"}, _ctx("csv"), mapping)
