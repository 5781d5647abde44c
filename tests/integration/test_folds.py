"""One contact, one count across paths, on the whole pipeline (gateway, Faust stream, sink, chDB).

A texting tool posts its contacts to the gateway as they happen (source system ``spoke``); later
the VAN contact-history export of that tool's write-back to VAN is imported
(``fieldstream import van-export``), the same contacts under VAN's ids, three minutes later.
With the org's fold rule ``[spoke, van]`` within 60 minutes: each contact counts once, both
ids stay stored (contact_folds lists them), two genuine attempts on one person count twice,
and the progress board shows how many were folded.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import FoldConfig, OrgConfig, SourceConfig, write_programs, write_sources
from core.settings import KafkaSettings, Settings
from fieldstream import grafana_sql as gs
from fieldstream.embedded import free_port
from fieldstream.stack import Stack
from producers.tools.van.export import import_van_export
from schemas.ids import event_id_for
from sinks.query_tokens import admin_token

pytestmark = pytest.mark.integration

ORG, CAMPAIGN = "org-f", "gotv"
SECRET = "s3cret-for-tests-only"
NOW = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=3)
BOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"


@pytest.fixture
def stack(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[Settings]:
    programs = tmp_path / "programs.yaml"
    sources = tmp_path / "sources.yaml"
    folds = FoldConfig(window_minutes=60, pairs=[("spoke", "van")])
    write_programs(programs, [OrgConfig(id=ORG, campaigns=[CAMPAIGN], folds=folds)], "UTC")
    write_sources(
        sources,
        [SourceConfig.model_validate({"id": "texting-tool", "org_id": ORG, "secrets": [SECRET]})],
    )
    settings = Settings(data_dir=tmp_path / "data", kafka=kafka_settings)
    settings.stream.programs_file = programs
    settings.gateway.sources_file = sources
    settings.gateway.port = free_port()
    settings.stream.web_port = free_port()
    settings.sink.query_port = free_port()
    settings.sink.keeper_interval_s = 0.5
    with Stack(settings, tmp_path / "logs", start_broker=False) as s:
        s.start_core()
        s.start_pipeline()
        yield settings


def texted(n: int, person: int, at: dt.datetime) -> dict[str, Any]:
    """A contact as the texting tool posts it (a conversation: result canvassed)."""
    return {
        "source_system": "spoke",
        "source_event_id": f"msg-{n}",
        "org_id": ORG,
        "campaign_id": CAMPAIGN,
        "channel": "text",
        "occurred_at": at.isoformat(),
        "person": {"van_id": str(1000 + person), "state": "ZZ"},
        "result": "canvassed",
        "result_raw": "canvassed",
        "canvasser_id": "texter-1",
    }


def export_row(n: int, person: int, at: dt.datetime) -> str:
    """The same contact in VAN's ContactHistory export (SMS Text, Canvassed)."""
    return f"{900000 + n},{1000 + person},{at:%Y-%m-%dT%H:%M:%S},37,11,14,55001,700001\n"


def query(settings: Settings, sql: str) -> list[list[Any]]:
    auth = {"authorization": f"Bearer {admin_token(settings.query)}"}
    url = f"http://127.0.0.1:{settings.sink.query_port}/query"
    r = httpx.post(url, content=sql, headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["rows"])


def wait(settings: Settings, sql: str, want: Any, timeout_s: float = 120) -> Any:
    deadline, got = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        got = query(settings, sql)
        if got == want:
            return got
        time.sleep(0.5)
    raise AssertionError(f"{sql}: {got} after {timeout_s}s, wanted {want}")


def test_the_same_contacts_by_webhook_and_export_count_once(
    stack: Settings, tmp_path: Path
) -> None:
    settings = stack
    at = [NOW + dt.timedelta(minutes=7 * i) for i in range(40)]
    hooks, export = [], []
    for i in range(20):  # twenty contacts by both paths
        hooks.append(texted(i, i, at[i]))
        export.append(export_row(i, i, at[i] + dt.timedelta(minutes=3)))
    # person 50: two genuine attempts 20 minutes apart, both paths have both
    hooks += [texted(50, 50, at[0]), texted(51, 50, at[0] + dt.timedelta(minutes=20))]
    export += [export_row(50, 50, at[0] + dt.timedelta(minutes=2))]
    export += [export_row(51, 50, at[0] + dt.timedelta(minutes=21))]
    # person 60: two genuine attempts by the tool, only one reached VAN
    hooks += [texted(60, 60, at[5]), texted(61, 60, at[5] + dt.timedelta(minutes=10))]
    export += [export_row(60, 60, at[5] + dt.timedelta(minutes=1))]
    hooks.append(texted(70, 70, at[9]))  # only by the webhook
    export.append(export_row(80, 80, at[9]))  # only in VAN
    export.append(export_row(90, 0, at[0] + dt.timedelta(hours=3)))  # person 0 again, hours later

    url = f"http://{settings.gateway.host}:{settings.gateway.port}/v1/events"
    headers = {"X-Fieldstream-Source": "texting-tool", "Authorization": f"Bearer {SECRET}"}
    r = httpx.post(url, json=hooks, headers=headers, timeout=30)
    assert r.status_code == 202, r.text
    stored = len(hooks)
    wait(settings, "SELECT count() FROM contact_events FINAL", [[stored]])

    csv = tmp_path / "ContactHistory.csv"
    header = "ContactsContactID,VanID,DateCanvassed,ContactTypeID,InputTypeID,ResultID,"
    csv.write_text(header + "CommitteeID,CanvassedBy\n" + "".join(export))
    summary = import_van_export(csv, settings.kafka, org_id=ORG, campaign_id=CAMPAIGN)
    assert summary.sent == len(export), str(summary)
    stored += len(export)
    wait(settings, "SELECT count() FROM contact_events FINAL", [[stored]])

    # 20 pairs + the two of person 50 + one of person 60's; every other contact counts
    folded = 20 + 2 + 1
    genuine = stored - folded
    assert genuine == 20 + 2 + 2 + 1 + 1 + 1
    wait(settings, "SELECT count() FROM contact_folds", [[folded]])
    wait(
        settings,
        "SELECT sum(contacts), sum(attempts) FROM counts_daily WHERE by_group = 0",
        [[genuine, genuine]],
    )
    assert query(settings, "SELECT count() FROM contact_events_counted") == [[genuine]]
    # both ids kept: every fold names a VAN copy and the webhook contact it was folded into
    pairs = query(
        settings,
        "SELECT f.folded_event_id, f.kept_event_id, e.source_system, k.source_system "
        "FROM contact_folds AS f "
        "INNER JOIN contact_events AS e FINAL ON e.event_id = f.folded_event_id "
        "INNER JOIN contact_events AS k FINAL ON k.event_id = f.kept_event_id",
    )
    assert len(pairs) == folded
    assert {(r[2], r[3]) for r in pairs} == {("van", "spoke")}
    kept = {r[1] for r in pairs}
    assert (
        event_id_for(ORG, "spoke", "msg-50") in kept
        and event_id_for(ORG, "spoke", "msg-51") in kept
    )
    assert event_id_for(ORG, "spoke", "msg-60") in kept
    assert event_id_for(ORG, "spoke", "msg-61") not in kept  # VAN never had it: not a copy
    assert event_id_for(ORG, "van", "900090") not in {r[0] for r in pairs}  # hours apart

    # the progress board says how many were folded
    [q] = [
        q
        for b in gs.load_dashboards(BOARDS)
        for q in gs.panel_queries(b)
        if q.panel_title == "Counted once: contacts folded and voided"
    ]
    sql = gs.render_sql(q.raw_sql, {"org": ORG, "campaign": CAMPAIGN}, NOW, NOW)
    assert query(settings, sql) == [[folded, 0]]
    # and verify finds every board figure equal to a recount
    auth = {"authorization": f"Bearer {admin_token(settings.query)}"}
    url = f"http://127.0.0.1:{settings.sink.query_port}/verify"
    body = httpx.post(url, headers=auth, timeout=300).json()
    assert body["differences"] == 0, body["lines"]
