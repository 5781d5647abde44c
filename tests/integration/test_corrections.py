"""Corrections end to end on real Tansu and chDB, with the exchange: two orgs, each with its sink
(and its ledger keeper) and exchange agent, as tests/integration/test_exchange.py runs them.

Org A voids one canvasser's contacts for a time range with ``fieldstream void``: every board
figure (goals, this week by channel, who we are reaching, coverage, canvassers), its own
coalition copy and what partner B holds drop exactly those contacts (each equal to a recount
made here); the voided contacts stay queryable with their reason. ``fieldstream unvoid --undo``
brings them back. A replay of every event and both corrections changes nothing, and
``fieldstream verify`` finds no difference.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from core.config import DEFAULT_TIMEZONE
from fieldstream import grafana_sql as gs
from fieldstream.cli import app
from fieldstream.stack import settings_env
from schemas import VOTER
from sinks.loaders import load_goals, load_universe
from sinks.query_tokens import admin_token
from tests.factories.stream import read_all
from tests.integration.test_exchange import (  # noqa: F401  (orgs: the fixture)
    A_GOTV,
    B_FIELD,
    CODEC,
    N_VOTERS,
    NOW,
    SPAN,
    UNIVERSE,
    A,
    B,
    Org,
    encode,
    enriched,
    orgs,
    produce,
    today,
    voter,
    wait_for,
)

pytestmark = pytest.mark.integration

BOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"
ZONE = DEFAULT_TIMEZONE  # the orgs' programs.yaml names no zone
VOID_FROM = NOW - dt.timedelta(seconds=SPAN // 2)
VOID_TO = NOW + dt.timedelta(seconds=60)
Event = dict[str, Any]


def a_events() -> list[Event]:
    """Org A's gotv contacts, every third by canvasser c-2."""
    out = []
    for n, i in enumerate(A_GOTV):
        e = enriched(A, "gotv", i, n, today(n))
        e["contact"]["canvasser_id"] = "c-2" if n % 3 == 0 else "c-1"
        out.append(e)
    return out


def voided(events: list[Event]) -> set[str]:
    return {
        str(e["contact"]["event_id"])
        for e in events
        if e["contact"]["canvasser_id"] == "c-2"
        and VOID_FROM <= e["contact"]["occurred_at"] < VOID_TO
    }


def local(at: dt.datetime) -> dt.date:
    return at.astimezone(ZoneInfo(ZONE)).date()


def recount(events: list[Event], gone: set[str]) -> dict[str, Any]:
    """Every figure the test reads, from the events that count."""
    counted = [e for e in events if str(e["contact"]["event_id"]) not in gone]
    week = local(NOW) - dt.timedelta(days=local(NOW).weekday())
    contacted = [e for e in counted if e["contact"]["result"] == "canvassed"]

    def person(e: Event) -> str:
        return str(e["contact"]["person"]["voter_id"])

    this_week = [e for e in counted if local(e["contact"]["occurred_at"]) >= week]
    races: dict[str, set[str]] = defaultdict(set)
    attempts: dict[str, int] = defaultdict(int)
    for e in counted:
        attempts[e["voter"]["race"]] += 1
    for e in contacted:
        races[e["voter"]["race"]].add(person(e))
    universe = {f"ZZ{i:04d}" for i in UNIVERSE}
    canvassers: dict[str, int] = defaultdict(int)
    for e in counted:
        canvassers[e["contact"]["canvasser_id"]] += 1
    return {
        "goals": {
            "attempts": len(this_week),
            "contacts": sum(1 for e in this_week if e["contact"]["result"] == "canvassed"),
            "ids": 0,
            "people_reached": len(
                {person(e) for e in this_week if e["contact"]["result"] == "canvassed"}
            ),
        },
        "channel": (len(this_week), len({person(e) for e in contacted if e in this_week})),
        "race": {r: (attempts[r], len(races[r])) for r in attempts},
        "coverage": (
            len(universe & {person(e) for e in counted}),
            len(universe & {person(e) for e in contacted}),
        ),
        "canvassers": dict(canvassers),
        "partner_b": len(counted),
        "self": len(counted),
    }


def panel(title: str) -> gs.PanelQuery:
    for board in gs.load_dashboards(BOARDS):
        for q in gs.panel_queries(board):
            if q.panel_title == title:
                return q
    raise KeyError(title)


VARIABLES: dict[str, gs.VariableValue] = {
    "org": A,
    "campaign": "gotv",
    "tz": ZONE,
    "channel": ["door"],
    "race_source": ["self_reported"],
    "min_group_size": "1",
}


def figures(org_a: Org, org_b: Org) -> dict[str, Any]:
    """The same figures, as the boards and the coalition views show them."""

    def rows(org: Org, sql: str) -> list[dict[str, Any]]:
        store = org.store
        try:
            columns, found = store.query(sql)
        finally:
            store.close()
        return [dict(zip(columns, r, strict=True)) for r in found]

    def board(title: str) -> list[dict[str, Any]]:
        sql = gs.render_sql(panel(title).raw_sql, VARIABLES, NOW - dt.timedelta(days=7), NOW)
        return rows(org_a, sql)

    goals = {r["metric"]: int(r["actual"]) for r in board("This week: goals, actuals and pace")}
    [channel] = board("This week so far, by channel") or [{"attempts": 0, "people_reached": 0}]
    race = {
        r["race"]: (int(r["attempts"]), int(r["people_reached"]))
        for r in board("By race, with the source of race")
    }
    [cover] = board("Universe covered") or [{"attempted": 0, "contacted": 0}]
    canvassers = {
        r["canvasser_id"]: int(r["attempts"])
        for r in rows(
            org_a,
            "SELECT canvasser_id, sum(attempts) AS attempts FROM canvasser_progress_daily "
            f"WHERE org_id = '{A}' AND campaign_id = 'gotv' GROUP BY canvasser_id "
            "HAVING attempts > 0",
        )
    }
    partner = rows(org_b, f"SELECT count() AS n FROM coalition_contacts WHERE partner = '{A}'")
    own = rows(
        org_a,
        f"SELECT count() AS n FROM coalition_contacts WHERE partner = 'self' "
        f"AND sharing_org = '{A}'",
    )
    return {
        "goals": goals,
        "channel": (int(channel["attempts"]), int(channel["people_reached"])),
        "race": race,
        "coverage": (int(cover["attempted"]), int(cover["contacted"])),
        "canvassers": canvassers,
        "partner_b": int(partner[0]["n"]),
        "self": int(own[0]["n"]),
    }


def settle_on(want: dict[str, Any], org_a: Org, org_b: Org, what: str) -> None:
    last: list[dict[str, Any]] = []

    def equal() -> bool:
        last[:] = [figures(org_a, org_b)]
        return last[0] == want

    try:
        wait_for(equal, what, [org_a, org_b], timeout_s=120)
    except AssertionError:
        assert last and last[0] == want  # shows the difference
        raise


def cli(org: Org, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=settings_env(org.settings))
    assert result.exit_code == 0, result.output
    return result.output


def verify_clean(org: Org) -> None:
    url = f"http://127.0.0.1:{org.settings.sink.query_port}/verify"
    auth = {"authorization": f"Bearer {admin_token(org.settings.query)}"}
    body = httpx.post(url, headers=auth, timeout=600).json()
    assert body["differences"] == 0, "\n".join(body["lines"])


def test_void_a_canvassers_contacts_then_undo_then_replay(
    orgs: tuple[Org, Org],  # noqa: F811  (the fixture of test_exchange)
    tmp_path: Path,
) -> None:
    org_a, org_b = orgs
    both = [org_a, org_b]
    voters = [(f"ZZ:ZZ{i:04d}".encode(), CODEC.encode(VOTER, voter(i))) for i in range(N_VOTERS)]
    for org in both:
        produce(org.settings, org.settings.kafka.topics.voters, voters)
    events = a_events()
    gone = voided(events)
    assert 5 <= len(gone) < len(events) // 3  # some of c-2's contacts, not all of them
    produce(org_a.settings, org_a.settings.kafka.topics.enriched, encode(events))
    events_b = [enriched(B, "field", i, n, today(n + 500)) for n, i in enumerate(B_FIELD)]
    produce(org_b.settings, org_b.settings.kafka.topics.enriched, encode(events_b))
    week = local(NOW) - dt.timedelta(days=local(NOW).weekday())
    (tmp_path / "goals.csv").write_text(
        "org_id,campaign_id,week,metric,target\n"
        + "".join(
            f"{A},gotv,{week},{m},100\n" for m in ("attempts", "contacts", "ids", "people_reached")
        )
    )
    (tmp_path / "universe.csv").write_text(
        "org_id,campaign_id,state,voter_id\n"
        + "".join(f"{A},gotv,ZZ,ZZ{i:04d}\n" for i in UNIVERSE)
    )
    store = org_a.store
    try:
        load_goals(store, tmp_path / "goals.csv")
        load_universe(store, tmp_path / "universe.csv")
    finally:
        store.close()
    everything = recount(events, set())
    settle_on(everything, org_a, org_b, "every figure counts every contact")

    # void canvasser c-2 for half the span (times as the data manager gives them: local)
    start = VOID_FROM.astimezone(ZoneInfo(ZONE)).replace(tzinfo=None).isoformat()
    end = VOID_TO.astimezone(ZoneInfo(ZONE)).replace(tzinfo=None).isoformat()
    out = cli(
        org_a, "void", "--org", A, "--canvasser", "c-2", "--from", start, "--to", end,
        "--reason", "fabricated doors", "--by", "data-manager",
    )  # fmt: skip
    assert f"it voids {len(gone):,} contact(s)" in out, out
    correction_id = out.split("undo: fieldstream unvoid --org")[1].split("--undo")[1].split()[0]
    settle_on(recount(events, gone), org_a, org_b, "the void on every figure and at B")
    store = org_a.store
    try:
        _, listed = store.query(
            "SELECT event_id, void_reason, voided_by, correction_id FROM contact_events_voided"
        )
    finally:
        store.close()
    assert {r[0] for r in listed} == gone
    assert {(r[1], r[2], r[3]) for r in listed} == {
        ("fabricated doors", "data-manager", correction_id)
    }
    # the progress board counts them from the suppressions alone: the same contacts
    store = org_a.store
    try:
        _, counted = store.query(
            "SELECT event_id, void_reason, voided_by, correction_id FROM contact_voids"
        )
    finally:
        store.close()
    assert sorted(map(tuple, counted)) == sorted(map(tuple, listed))

    # undo: they count again everywhere
    out = cli(org_a, "unvoid", "--org", A, "--undo", correction_id, "--reason", "false alarm")
    assert "count again" in out
    settle_on(everything, org_a, org_b, "the undo on every figure and at B")

    # a replay of everything: every event again, both corrections again (same ids)
    topic = org_a.settings.kafka.topics.corrections
    sent = read_all(org_a.settings.kafka.bootstrap_servers, topic)
    assert len(sent) == 2
    produce(org_a.settings, topic, [(k or b"", v) for k, v in sent])
    produce(org_a.settings, org_a.settings.kafka.topics.enriched, encode(events))
    wait_for(lambda: _inserted(org_a) >= 2 * len(events), "the replay stored", both)
    settle_on(everything, org_a, org_b, "the replay changed nothing")
    store = org_a.store
    try:
        _, corrections = store.query("SELECT count() FROM corrections FINAL")
    finally:
        store.close()
    assert corrections == [[2]]
    verify_clean(org_a)
    verify_clean(org_b)


def _inserted(org: Org) -> float:
    """Contacts the sink has handled: inserted, or dropped as already stored (the ledger)."""
    text = httpx.get(f"http://127.0.0.1:{org.settings.sink.query_port}/metrics").text
    prefixes = (
        'fieldstream_sink_rows_inserted_total{table="contact_events"}',
        'fieldstream_sink_already_stored_total{table="contact_events"}',
    )
    return sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(prefixes))
