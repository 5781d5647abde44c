"""The sink's query door on real chDB, over real HTTP (the sink's own app under uvicorn).

Two orgs' rows in every table with org data (contact_events and the rollups its views read,
goals, universes, dead_letters, exchange_audit, partner_contacts: ours and two partners', one
of them read by org-a). Checks:

* every bypass of the old first-keyword check, and more, is refused with a 400 that says why,
  and nothing was written (goals unchanged, no file made);
* what an analyst may do works (views, CTEs, unions, comments, strings that look like SQL),
  and every Grafana panel's SQL passes the door;
* an analyst token sees only its org's rows in every table and view that has org_id
  (partner_contacts included), whatever the query's shape; the admin sees every org;
* credentials: none or unknown -> 401, an analyst on /insert -> 403, the tokens file holds
  hashes only (0600), a revoked token stops working without a restart;
* limits: result size, memory and time give a 400 naming the limit; queries run on clients of
  their own (the ingest writer's lock is free while one runs), at most ``concurrency`` at once,
  and none starts while an insert is under way (429 with Retry-After).
"""

from __future__ import annotations

import datetime as dt
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from core.settings import DASHBOARDS, ExchangeSettings, QuerySettings, Settings
from fieldstream import grafana_sql as gs
from fieldstream.embedded import free_port
from schemas import SHARED_CONTACT
from schemas.registry import codec_for
from sinks.exchange_rows import PARTNER_CONTACT_COLUMNS, ExchangeInputs
from sinks.migrate import migrate
from sinks.query_tokens import add_token, admin_token, revoke_token
from sinks.remote import HttpSinkAccess
from sinks.routes import Routes
from sinks.service import SinkService
from sinks.store import LockedStore, open_store

pytestmark = pytest.mark.integration

ORGS = ("org-a", "org-b")
NOW = dt.datetime(2026, 10, 30, 15, tzinfo=dt.UTC)
PANEL_TIME = (dt.datetime(2026, 10, 28, tzinfo=dt.UTC), dt.datetime(2026, 11, 4, tzinfo=dt.UTC))


@dataclass
class Door:
    url: str
    settings: Settings
    service: SinkService
    store: LockedStore
    analyst: dict[str, str]  # org -> token
    admin: str

    def post(self, sql: str, token: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.url}/query", content=sql.encode(), headers=headers, timeout=30)

    def rows(self, sql: str, token: str) -> list[list[Any]]:
        resp = self.post(sql, token)
        assert resp.status_code == 200, resp.text
        rows: list[list[Any]] = resp.json()["rows"]
        return rows


def shared(org: str, partner_id: str, i: int) -> dict[str, Any]:
    """A SharedContact as the exchange sends it (the fields partner_contact_row reads)."""
    return {
        "shared_event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{org}-{partner_id}-{i}"),
        "partner_id": partner_id,
        "sharing_org": org,
        "agreement_id": "agr",
        "agreement_version": "v1",
        "key_id": "k1",
        "shared_at": NOW,
        "occurred_at": NOW,
        "occurred_precision": "day",
        "person_pseudonym": f"p{i}",
        "person_id_kind": "state_voter_id",
        "channel": "door",
        "result": "canvassed",
        "geography_level": "state",
        "state": "PA",
    }


def fill(store: LockedStore, exchange: ExchangeInputs) -> None:
    """Rows of both orgs in every org table (the views read these)."""
    for n, org in enumerate(ORGS):
        for i in range(3 + n):  # org-a 3 rows, org-b 4: counts tell them apart
            store.client.command(
                "INSERT INTO contact_events (event_id, org_id, campaign_id, channel, occurred_at, "
                "received_at, enriched_at, state, voter_id, result, is_contact, has_id) VALUES "
                f"('{org}-{i}', '{org}', 'gotv', 'door', '2026-10-30 15:00:00', "
                "'2026-10-30 15:00:00', '2026-10-30 15:00:00', 'PA', "
                f"'V{i}', 'canvassed', 1, 1)"
            )
        store.client.command(
            f"INSERT INTO goals VALUES ('{org}', 'gotv', '2026-10-26', 'attempts', 10, now64(3))"
        )
        store.client.command(
            "INSERT INTO universes (org_id, campaign_id, state, voter_id, loaded_at) VALUES "
            f"('{org}', 'gotv', 'PA', 'V1', now64(3))"
        )
        store.client.command(
            "INSERT INTO dead_letters (event_id, org_id, stage, reason_code, source_topic, "
            f"source_offset, failed_at, original) VALUES ('d-{org}', '{org}', 'validate', "
            f"'bad', 'raw', {n}, now64(3), '{{}}')"
        )
        store.client.command(
            "INSERT INTO exchange_audit (partner_id, shared_event_id, event_id, org_id, "
            f"campaign_id, occurred_at, shared_at) VALUES ('p1', 's-{org}', '{org}-0', '{org}', "
            "'gotv', now64(3), now64(3))"
        )
    routes = Routes()
    codec = codec_for(None)
    exchange.register(routes, codec)  # the sink's own routing of the exchange's topics
    by_partner = {partner: topic for topic, partner in exchange.inbound.items()}
    sent = [("self", org, i) for org in ORGS for i in range(2)]  # ours, shared to ourselves
    sent += [(p, "their-org", i) for p in ("p1", "p2") for i in range(2)]  # partners' to us
    rows = []
    for offset, (partner, org, i) in enumerate(sent):
        recipient = "self" if partner == "self" else "us"
        value = codec.encode(SHARED_CONTACT, shared(org, recipient, i))
        topic = by_partner[partner]
        routed = routes.by_topic[topic](value, (topic, 0, offset))
        assert routed is not None and routed.table == "partner_contacts"
        rows.append(routed.row)
    store.insert("partner_contacts", PARTNER_CONTACT_COLUMNS, rows)


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    tmp = tmp_path_factory.mktemp("door")
    settings = Settings(
        data_dir=tmp,
        query=QuerySettings(timeout_s=30, max_result_rows=1000, queue_wait_s=0.3, concurrency=2),
        exchange=ExchangeSettings(
            our_partner_id="us", inbound="p1=from.p1,p2=from.p2", inbound_orgs="p1=org-a"
        ),
    )
    service = SinkService(settings)
    store = LockedStore(open_store(settings.clickhouse.dsn.get_secret_value()))
    migrate(store.client)
    exchange = ExchangeInputs.from_settings(settings.exchange)
    assert exchange is not None
    fill(store, exchange)
    service.store = store
    service.open_door()
    analyst = {org: add_token(settings.query.tokens_file, f"ana-{org}", "analyst", org)
               for org in ORGS}  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(service.app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Door(
            f"http://127.0.0.1:{port}",
            settings,
            service,
            store,
            analyst,
            admin_token(settings.query),
        )
    finally:
        server.should_exit = True
        thread.join(10)
        assert service.door is not None
        service.door.close()
        store.close()


# --- refused ----------------------------------------------------------------------------------

REFUSED = [
    # writes behind a first keyword that looks harmless, and plain writes
    ("WITH 1 AS x INSERT INTO goals SELECT * FROM goals", "only SELECT"),
    ("INSERT INTO goals VALUES ('x', 'y', today(), 'attempts', 1, now64(3))", "only SELECT"),
    ("INSERT INTO FUNCTION file('door-owned.csv') SELECT 1", "only SELECT"),
    ("/* select */ INSERT INTO goals SELECT * FROM goals", "only SELECT"),
    ("-- SELECT\nINSERT INTO goals SELECT * FROM goals", "only SELECT"),
    ("ALTER TABLE goals DELETE WHERE 1", "only SELECT"),
    ("ALTER TABLE goals UPDATE target = 0 WHERE 1", "only SELECT"),
    ("DROP TABLE goals", "only SELECT"),
    ("TRUNCATE TABLE goals", "only SELECT"),
    ("CREATE TABLE x (a UInt8) ENGINE = Memory", "only SELECT"),
    ("CREATE FUNCTION f AS (x) -> x", "only SELECT"),
    ("OPTIMIZE TABLE goals FINAL", "only SELECT"),
    ("SYSTEM FLUSH LOGS", "only SELECT"),
    ("KILL QUERY WHERE 1", "only SELECT"),
    ("GRANT ALL ON *.* TO default", "only SELECT"),
    ("BACKUP TABLE goals TO File('door-backup')", "only SELECT"),
    ("SET readonly = 0", "only SELECT"),
    ("EXPLAIN SELECT 1", "only SELECT"),
    ("SHOW TABLES", "only SELECT"),
    ("DESCRIBE TABLE goals", "only SELECT"),
    # table functions, whatever they reach
    ("SELECT * FROM file('sources.yaml', 'LineAsString')", "table functions"),
    ("SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')", "table functions"),
    ("SELECT * FROM s3('http://127.0.0.1:9/b/k', 'CSV')", "table functions"),
    ("SELECT * FROM remote('127.0.0.1', system.one)", "table functions"),
    ("SELECT * FROM merge(currentDatabase(), '.*')", "table functions"),
    ("SELECT * FROM numbers(10)", "table functions"),
    ("SELECT * FROM view(SELECT 1)", "table functions"),
    ("SELECT * FROM executable('x.sh', 'TSV', 'a String')", "table functions"),
    ("SELECT * FROM goals WHERE org_id IN (SELECT * FROM file('x', 'CSV'))", "table functions"),
    (
        "SELECT * FROM goals AS g JOIN url('http://127.0.0.1:9/', 'CSV') AS u ON 1",
        "table functions",
    ),
    # settings, anywhere
    ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
    ("SELECT * FROM contact_events SETTINGS additional_table_filters = {}", "SETTINGS"),
    ("SELECT * FROM (SELECT 1 SETTINGS readonly = 0)", "SETTINGS"),
    ("SELECT 1 UNION ALL SELECT 2 SETTINGS max_execution_time = 0", "SETTINGS"),
    # system tables, other databases, objects outside the catalogue
    ("SELECT * FROM system.tables", "system tables"),
    ("SELECT * FROM SYSTEM.one", "system tables"),
    ("SELECT * FROM information_schema.tables", "system tables"),
    ("SELECT * FROM INFORMATION_SCHEMA.TABLES", "system tables"),
    ("SELECT (SELECT name FROM system.users LIMIT 1)", "system tables"),
    ("SELECT * FROM goals WHERE org_id IN (SELECT name FROM system.databases)", "system tables"),
    ("WITH x AS (SELECT * FROM system.one) SELECT * FROM x", "system tables"),
    ("SELECT * FROM goals UNION ALL SELECT * FROM system.one", "system tables"),
    ("SELECT * FROM goals AS g JOIN system.one AS o ON 1", "system tables"),
    ("SELECT * FROM other.goals", "only the tables of database"),
    ("SELECT * FROM `default.goals`", "unknown table"),
    ("SELECT * FROM schema_migrations", "unknown table"),
    ("SELECT * FROM contact_rollup_daily_mv", "unknown table"),
    ("SELECT 1 WHERE 'a' IN goals", "x IN (SELECT"),
    ("SELECT 1 WHERE 'a' NOT IN system.one", "x IN (SELECT"),
    # several statements, outfiles, formats, parameters
    ("SELECT 1; SELECT 2", "one statement"),
    ("SELECT 1; DROP TABLE goals", "one statement"),
    ("SELECT 1 -- a comment\n; INSERT INTO goals SELECT * FROM goals", "one statement"),
    ("SELECT 1 INTO OUTFILE 'door-out.csv'", "INTO OUTFILE"),
    ("SELECT 1 INTO OUTFILE 'door-out.csv.gz' COMPRESSION 'gzip'", "INTO OUTFILE"),
    ("SELECT 1 FORMAT JSON", "FORMAT"),
    ("SELECT {x:String}", "query parameters"),
    # functions that stall the store or reach past the data
    ("SELECT sleep(3)", "function sleep"),
    ("SELECT SLEEP(1)", "function SLEEP"),
    ("SELECT sleepEachRow(1) FROM contact_events", "function sleepEachRow"),
    ("SELECT count() FROM goals WHERE sleep(1) = 0", "function sleep"),
    ("SELECT arrayMap(x -> sleep(1), [1])", "function sleep"),
    ("SELECT file('sources.yaml')", "function file"),
    ("SELECT getSetting('additional_table_filters')", "function getSetting"),
    ("SELECT joinGet('goals', 'target', 'org-b')", "function joinGet"),
    ("SELECT dictGet('d', 'x', 1)", "function dictGet"),
    ("SELECT hostName()", "function hostName"),
    ("SELECT currentUser()", "function currentUser"),
    ("SELECT aiGenerate('tell me')", "function aiGenerate"),
    ("SELECT logTrace('x')", "function logTrace"),
    # odd characters: invisible, bidirectional, control, look-alike, unparseable
    ("SELECT\u00a01", "U+00A0"),
    ("SEL\u200bECT 1", "U+200B"),
    ("SELECT 1 /* \u202e */", "U+202E"),
    ("SELECT '\u2066' AS x", "U+2066"),
    ("SELECT 1\x00", "U+0000"),
    ("SELECT 1\x1b[2J", "U+001B"),
    ("\ufeffSELECT 1", "U+FEFF"),
    ("SELECT * FROM \u0455ystem.tables", "cannot read"),  # a Cyrillic 's'
    ("SELECT * FROM `\u0455ystem`.tables", "only the tables of database"),
    ("\uff33\uff25\uff2c\uff25\uff23\uff34 1", "cannot read"),  # full-width SELECT
    ("SELECT 1 /* not closed", "cannot read"),
    ("", "empty query"),
]


@pytest.mark.parametrize("sql,reason", REFUSED, ids=[s[:48] for s, _ in REFUSED])
def test_bypasses_are_refused(door: Door, sql: str, reason: str) -> None:
    for token in (door.analyst["org-a"], door.admin):
        resp = door.post(sql, token)
        assert resp.status_code == 400, resp.text
        assert reason in resp.json()["error"]


def test_nothing_was_written(door: Door) -> None:
    for sql, _ in REFUSED:
        door.post(sql, door.admin)
    assert door.rows("SELECT count() FROM goals", door.admin) == [[2]]
    assert door.rows("SELECT count() FROM contact_events", door.admin) == [[7]]
    made = [p.name for p in door.settings.data_dir.rglob("door-*")]
    made += [p.name for p in Path.cwd().glob("door-*")]
    assert made == []


# --- allowed ----------------------------------------------------------------------------------

ALLOWED = [
    "SELECT count() FROM contact_events",
    "select COUNT() from CONTACT_EVENTS",  # wrong case: the table name is case-sensitive
    "SELECT org_id, sum(attempts) FROM contact_progress_daily GROUP BY org_id",
    "WITH t AS (SELECT org_id FROM goals) SELECT count() FROM t",
    "SELECT org_id FROM goals UNION ALL SELECT org_id FROM universes",
    "SELECT 1 /* ; DROP TABLE goals */",
    "SELECT 'INSERT INTO goals; system.tables; file(x)' AS s -- SETTINGS readonly=0",
    "SELECT 'José Núñez' AS name",
    "SELECT count() FROM goals WHERE org_id IN ('org-a', 'org-b')",
    "SELECT count() FROM goals WHERE org_id IN (SELECT org_id FROM universes)",
    "SELECT * FROM goal_progress ORDER BY org_id",
    "SELECT count() FROM default.contact_events FINAL",
    "SELECT count() FROM coalition_contacts",
]


@pytest.mark.parametrize("sql", ALLOWED, ids=[s[:40] for s in ALLOWED])
def test_what_analysts_need_is_allowed(door: Door, sql: str) -> None:
    resp = door.post(sql, door.analyst["org-a"])
    if "CONTACT_EVENTS" in sql:  # checked by ClickHouse, not refused by the door
        assert resp.status_code == 400 and "CONTACT_EVENTS" in resp.json()["error"]
        return
    assert resp.status_code == 200, resp.text


def test_every_grafana_panel_passes_the_door(door: Door) -> None:
    variables = {"org": "org-a", "campaign": "gotv", "channel": ["door", "phone", "text"],
                 "race_source": ["bisg"], "min_group_size": "11", "tz": "UTC"}  # fmt: skip
    queries = [
        q
        for board in gs.load_dashboards(DASHBOARDS)
        for q in gs.panel_queries(board) + gs.variable_queries(board)
        if q.datasource_type == gs.CLICKHOUSE_TYPE
    ]
    assert len(queries) > 20
    for q in queries:
        sql = gs.render_sql(q.raw_sql, variables, *PANEL_TIME)
        for token in (door.admin, door.analyst["org-a"]):
            resp = door.post(sql, token)
            assert resp.status_code == 200, (q.dashboard, q.panel_title, resp.text)


# --- one org's rows ---------------------------------------------------------------------------


def test_an_analyst_sees_only_its_org_everywhere(door: Door) -> None:
    admin, ana = door.admin, door.analyst["org-a"]
    assert door.service.door is not None
    catalog = door.service.door.catalog()
    with_org = [
        r[0]
        for r in door.store.query(
            "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() "
            "AND name = 'org_id'"
        )[2]
        if r[0] in catalog.tables
    ]
    # every table with org data, and the views over them
    assert {"partner_contacts", "exchange_audit", "dead_letters", "goals"} <= set(with_org)
    assert {"contact_progress_daily", "goal_progress", "universe_current"} <= set(with_org)
    for name in with_org:
        everyone = {r[0] for r in door.rows(f"SELECT DISTINCT org_id FROM {name}", admin)}
        mine = {r[0] for r in door.rows(f"SELECT DISTINCT org_id FROM {name}", ana)}
        assert mine <= {"org-a"}, name
        if "org-b" in everyone:
            assert mine == {"org-a"}, name  # filtered, not emptied
    # whatever the query's shape
    shapes = [
        "SELECT count() FROM contact_events",
        "SELECT count() FROM contact_events FINAL WHERE org_id = 'org-b' OR 1",
        "SELECT count() FROM (SELECT * FROM contact_events) AS c",
        "WITH c AS (SELECT * FROM contact_events) SELECT count() FROM c",
        "SELECT count() FROM (SELECT event_id FROM contact_events UNION ALL "
        "SELECT event_id FROM contact_events WHERE org_id = 'org-b')",
        "SELECT (SELECT count() FROM contact_events)",
        "SELECT count() FROM contact_events AS a JOIN contact_events AS b USING event_id",
        "SELECT count() FROM goals WHERE org_id IN (SELECT org_id FROM contact_events) "
        "AND org_id = 'org-b'",
        "SELECT sum(attempts) FROM contact_progress_daily",
        # (contact_progress_by_period takes the clock as a parameter: the door refuses it)
        "SELECT sum(attempts) FROM (SELECT * FROM contact_progress_daily) AS d",
    ]
    expected = [3, 3, 3, 3, 3, 3, 3, 0, 3, 3]
    assert [door.rows(s, ana)[0][0] for s in shapes] == expected
    assert door.rows("SELECT count() FROM contact_events", admin) == [[7]]
    assert door.rows("SELECT count() FROM contact_events", door.analyst["org-b"]) == [[4]]


def test_an_empty_answer_still_names_its_columns(door: Door) -> None:
    """chDB sends no columns with an empty result; the door describes the query instead, so
    a command's table (or TSV header) is the same with no rows as with some."""
    for token in (door.admin, door.analyst["org-a"]):
        resp = door.post(
            "SELECT org_id, count() AS n FROM contact_events WHERE org_id = 'nobody' "
            "GROUP BY org_id",
            token,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["columns"] == ["org_id", "n"] and resp.json()["rows"] == []


def test_partner_contacts_are_filtered_by_org(door: Door) -> None:
    sql = "SELECT partner, sharing_org, org_id FROM partner_contacts ORDER BY ALL"
    everyone = door.rows(sql, door.admin)
    assert len(everyone) == 8
    # ours: the org that made them; p1's: org-a (inbound_orgs); p2's: nobody's but fieldstream's
    assert door.rows(sql, door.analyst["org-a"]) == [
        ["p1", "their-org", "org-a"],
        ["p1", "their-org", "org-a"],
        ["self", "org-a", "org-a"],
        ["self", "org-a", "org-a"],
    ]
    assert door.rows(sql, door.analyst["org-b"]) == [["self", "org-b", "org-b"]] * 2
    assert door.rows("SELECT count() FROM coalition_contacts", door.analyst["org-b"]) == [[2]]


# --- credentials ------------------------------------------------------------------------------


def test_credentials(door: Door, tmp_path: Path) -> None:
    assert door.post("SELECT 1", None).status_code == 401
    wrong = door.post("SELECT 1", "fsq_" + "x" * 43)
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert door.post("SELECT 1", door.admin + "x").status_code == 401
    insert = {"columns": ["org_id"], "rows": [["org-a"]]}
    url = f"{door.url}/insert/goals"
    assert httpx.post(url, json=insert).status_code == 401
    as_analyst = httpx.post(
        url, json=insert, headers={"authorization": f"Bearer {door.analyst['org-a']}"}
    )
    assert as_analyst.status_code == 403
    tokens_file = door.settings.query.tokens_file
    text = tokens_file.read_text()
    assert all(token not in text for token in door.analyst.values())
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(door.settings.query.admin_token_file.stat().st_mode) == 0o600
    # a token added and revoked while the sink runs: no restart needed either way
    extra = add_token(tokens_file, "temp", "analyst", "org-b")
    time.sleep(0.01)  # a new mtime for the file
    assert door.post("SELECT count() FROM goals", extra).json()["rows"] == [[1]]
    assert revoke_token(tokens_file, "temp")
    assert door.post("SELECT 1", extra).status_code == 401


def test_commands_use_the_admin_credential(door: Door) -> None:
    access = HttpSinkAccess(door.url, admin_token(door.settings.query))
    try:
        assert access.query("SELECT count() FROM goals")[1] == [[2]]
    finally:
        access.close()
    anonymous = HttpSinkAccess(door.url, "")
    try:
        with pytest.raises(Exception, match="FIELDSTREAM_QUERY__ADMIN_TOKEN"):
            anonymous.query("SELECT 1")
    finally:
        anonymous.close()


# --- limits and the ingest path ---------------------------------------------------------------

CROSS = "SELECT * FROM " + ", ".join(f"contact_events AS t{i}" for i in range(4))
# 7^10 rows to hash: far past the 1 s limit on any machine (a runaway query, not a sleep)
SLOW = (
    "SELECT count() FROM "
    + ", ".join(f"contact_events AS t{i}" for i in range(10))
    + " WHERE sipHash64("
    + ", ".join(f"t{i}.event_id" for i in range(10))
    + ") = 0"
)


def test_limits_name_themselves(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    too_many = door.post(CROSS, door.admin)  # 7^4 = 2,401 rows, over the 1,000 allowed
    assert too_many.status_code == 400 and "1000 rows" in too_many.json()["error"]
    big = door.post("SELECT length(arrayStringConcat(arrayMap(x -> randomString(1000000), "
                    "range(2000))))", door.admin)  # fmt: skip
    assert big.status_code == 400 and "memory" in big.json()["error"]
    assert door.service.door is not None
    monkeypatch.setattr(door.service.door.settings, "timeout_s", 1.0)
    slow = door.post(
        SLOW,
        door.admin,
    )
    assert slow.status_code == 400 and "time limit of 1.0 s" in slow.json()["error"]


def test_queries_never_hold_the_ingest_path(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    assert door.service.door is not None
    q = door.service.door
    monkeypatch.setattr(q.settings, "timeout_s", 1.0)  # the runaway query below stops at 1 s
    # a query runs on a client of its own: the ingest writer's lock stays free meanwhile
    seen: list[bool] = []

    def watch() -> None:
        while q._slots.qsize() == door.settings.query.concurrency:
            time.sleep(0.001)
        seen.append(door.store.lock.acquire(blocking=False))
        if seen[-1]:
            door.store.lock.release()

    watcher = threading.Thread(target=watch)
    watcher.start()
    door.post(
        SLOW,
        door.admin,
    )
    watcher.join(5)
    assert seen == [True]
    # while an insert is under way no query starts
    with door.service.gate.inserting():
        busy = door.post("SELECT 1", door.admin)
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert door.post("SELECT 1", door.admin).status_code == 200
    # at most `concurrency` at once
    taken = [q._slots.get() for _ in range(door.settings.query.concurrency)]
    try:
        assert door.post("SELECT 1", door.analyst["org-a"]).status_code == 429
    finally:
        for client in taken:
            q._slots.put(client)
    assert door.post("SELECT 1", door.analyst["org-a"]).status_code == 200


def test_admin_inserts_go_through(door: Door) -> None:
    access = HttpSinkAccess(door.url, door.admin)
    try:
        access.insert(
            "goals",
            ["org_id", "campaign_id", "week_start", "metric", "target", "loaded_at"],
            [["org-c", "gotv", "2026-11-02", "attempts", 5, "2026-10-30T00:00:00"]],
        )
    finally:
        access.close()
    assert door.rows("SELECT count() FROM goals WHERE org_id = 'org-c'", door.admin) == [[1]]
    door.store.client.command("DELETE FROM goals WHERE org_id = 'org-c'")


def test_a_corpus_at_the_sinks_routes_gets_no_5xx(door: Door) -> None:
    bodies = [b"", b"\xff\xfe\x00", b"SELECT 1" + b" " * 200_000, b"{}", b"null", b"[]",
              b'{"columns": ["org_id"], "rows": [[1, 2]]}', b'{"columns": "x", "rows": 5}',
              b'{"columns": ["week_start"], "rows": [["not a date"]]}',
              b'{"columns": ["nope"], "rows": [["x"]]}', b"{" * 10_000]  # fmt: skip
    answers = set()
    for url in ("/query", "/insert/goals", "/insert/contact_events", "/insert/x"):
        for token in (None, door.analyst["org-a"], door.admin, "junk"):
            headers = {"authorization": f"Bearer {token}"} if token else {}
            for body in bodies:
                resp = httpx.post(f"{door.url}{url}", content=body, headers=headers, timeout=30)
                answers.add(resp.status_code)
    assert answers <= {200, 400, 401, 403, 413}, answers
    assert door.rows("SELECT count() FROM goals", door.admin) == [[2]]
