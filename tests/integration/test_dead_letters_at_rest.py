"""Dead letters at rest, on real chDB through the sink's own writer: the original a tool sent
(CallHub's names, emails and phone numbers; VAN's canvassContext.phone) is stored sealed, only
the settings' key opens it, and what it opens is exactly what a replay needs (the adapter gives
the same items as from the request itself); letters expire after the configured retention."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import orjson
import pytest

from core.config import SourceConfig
from core.errors import ConfigError
from core.sealing import PREFIX, Sealer, new_key
from core.settings import DeadLetterSettings, Settings
from producers.intake import Hallway, Origin, gateway_topic
from producers.tools import registry
from producers.tools.van.adapter import adapt as van_adapt
from schemas import AvroCodec
from sinks.at_rest import apply_retention, seal_stored
from sinks.migrate import migrate
from sinks.rows import DEAD_LETTER_COLUMNS, dead_letter_row
from sinks.service import SinkService
from sinks.store import LockedStore, open_store

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
CODEC = AvroCodec()
CONTACT_DETAILS = ["61468828420", "fred@starkenterprises.com.au", "Fred", "555-555-0100"]


def letters(now_ms: int) -> list[bytes]:
    """Dead letters as the gateway makes them: a CallHub call with no person id the source's
    map knows, and a VAN canvass whose result code the committee's map lacks."""
    out = []
    callhub = SourceConfig.model_validate(
        {"id": "ch", "org_id": "org-a", "secrets": ["x"], "tool": "callhub",
         "campaign_id": "gotv"}
    )  # fmt: skip
    van = SourceConfig.model_validate(
        {"id": "va", "org_id": "org-a", "secrets": ["x"], "tool": "van", "campaign_id": "gotv",
         "codes_file": str(DATA / "van" / "codes_committee.yaml")}
    )  # fmt: skip
    body = (DATA / "callhub" / "cc_notes.json").read_bytes()
    van_body = json.loads((DATA / "van" / "spoke_classic_result.json").read_text())
    van_body["resultCodeId"] = 999_999  # a code the committee's map does not have
    hallway = Hallway(CODEC)
    van_original = orjson.dumps({"path": "/v4/people/123/canvassResponses", "body": van_body})
    for source, payload, original in [
        (callhub, orjson.loads(body), body),
        (van, van_body, van_original),
    ]:
        hook = registry.tool(source.tool).hook
        ctx = registry.context_for(source)
        if hook is not None:
            items = hook(payload, ctx)
        else:  # VAN's own API route calls the adapter with the path's person
            items = van_adapt(payload, ctx, id_type="vanid", person_id="123",
                          received_at="2026-10-30T15:00:00+00:00")  # fmt: skip
        origin = Origin(source.id, source.org_id, source.tool, gateway_topic(source.id))
        prepared = hallway.prepare(items, origin, original, now_ms)
        assert len(prepared.dlq) == 1, (source.tool, prepared)
        out.append(prepared.dlq[0][1])
    return out


def test_originals_are_sealed_and_open_for_a_replay(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    service = SinkService(settings)
    store = LockedStore(open_store(settings.clickhouse.dsn.get_secret_value()))
    try:
        migrate(store.client)
        service.store = store
        service.sealer = Sealer.from_settings(settings.dead_letters, create=True)
        now_ms = int(time.time() * 1000)
        rows = [dead_letter_row(CODEC.decode(v)[1]) for v in letters(now_ms)]
        service.write("dead_letters", DEAD_LETTER_COLUMNS, rows, "at-rest:0")
        stored = store.query("SELECT source_system, original FROM dead_letters ORDER BY 1")[2]
    finally:
        store.close()
    assert [r[0] for r in stored] == ["callhub", "van"]
    for system, original in stored:
        assert original.startswith(PREFIX)
        assert not any(detail in original for detail in CONTACT_DETAILS), system
    key_file = settings.dead_letters.key_file
    assert key_file.stat().st_mode & 0o777 == 0o600
    # only the key opens them; what opens is the request as it came, so a replay through the
    # adapter gives the same items the request gave
    sealer = Sealer.from_settings(settings.dead_letters)
    callhub = orjson.loads(sealer.open(stored[0][1]))
    assert callhub == orjson.loads((DATA / "callhub" / "cc_notes.json").read_bytes())
    source = SourceConfig.model_validate(
        {"id": "ch", "org_id": "org-a", "secrets": ["x"], "tool": "callhub", "campaign_id": "gotv"}
    )
    hook = registry.tool("callhub").hook
    assert hook is not None
    ctx = registry.context_for(source)
    assert hook(callhub, ctx) == hook(
        orjson.loads((DATA / "callhub" / "cc_notes.json").read_bytes()), ctx
    )
    van = orjson.loads(sealer.open(stored[1][1]))
    assert van["body"]["canvassContext"]["phone"]["phoneNumber"] == "555-555-0100"
    with pytest.raises(ConfigError, match="no dead-letter key"):
        Sealer([new_key()]).open(stored[0][1])
    # rotation: a new key first, the old one still opens what it sealed
    rotated = Sealer([new_key(), key_file.read_text().strip()])
    assert rotated.open(stored[0][1]) == sealer.open(stored[0][1])
    assert Sealer.from_settings(DeadLetterSettings(keys=key_file.read_text().strip())).open(
        stored[1][1]
    ) == sealer.open(stored[1][1])


def test_dead_letters_expire_after_the_retention(chdb_dsn: str) -> None:
    store = LockedStore(open_store(chdb_dsn))
    try:
        migrate(store.client)
        assert apply_retention(store.client, 30) is True
        assert apply_retention(store.client, 30) is False  # unchanged: no ALTER
        now = dt.datetime.now(dt.UTC)
        rows = [
            [f"gateway:d{i}", "", "org-a", "x", "gateway", "c", "r", "t", 0, i,
             now - dt.timedelta(days=age), now - dt.timedelta(days=age), 1, "{}", 0]
            for i, age in enumerate([0, 29, 31, 400])
        ]  # fmt: skip
        store.insert("dead_letters", DEAD_LETTER_COLUMNS, rows)
        store.client.command("OPTIMIZE TABLE dead_letters FINAL")
        kept = store.query("SELECT source_offset FROM dead_letters FINAL ORDER BY 1")[2]
        assert kept == [[0], [1]]
        assert apply_retention(store.client, 7) is True
        store.client.command("OPTIMIZE TABLE dead_letters FINAL")
        assert store.query("SELECT source_offset FROM dead_letters FINAL")[2] == [[0]]
    finally:
        store.close()


def test_letters_stored_before_sealing_are_sealed_in_place(chdb_dsn: str, tmp_path: Path) -> None:
    store = LockedStore(open_store(chdb_dsn))
    try:
        migrate(store.client)
        now = dt.datetime.now(dt.UTC)
        plain = [
            [f"gateway:p{i}", "", "org-a", "x", "gateway", "c", "r", "t", 0, i, now, now, 1,
             json.dumps({"contact": f"+1555000{i:04d}"}), 0]
            for i in range(7)
        ]  # fmt: skip
        store.insert("dead_letters", DEAD_LETTER_COLUMNS, plain)
        sealer = Sealer.from_settings(Settings(data_dir=tmp_path).dead_letters, create=True)
        assert seal_stored(store.client, sealer, batch=3) == 7
        assert seal_stored(store.client, sealer) == 0  # once sealed, nothing more to do
        stored = store.query("SELECT dead_letter_id, original FROM dead_letters FINAL ORDER BY 1")
    finally:
        store.close()
    assert all(o.startswith(PREFIX) and "+1555" not in o for _, o in stored[2])
    assert [json.loads(sealer.open(o))["contact"] for _, o in stored[2]] == [
        f"+1555000{i:04d}" for i in range(7)
    ]
