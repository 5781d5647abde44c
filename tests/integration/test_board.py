"""The terminal board on chDB with demo data: its goal, channel and race sections are the
dashboards' panels (the same rendered SQL, the same numbers) and the numbers are right.

Demo data is built as tests/integration/test_dashboards.py builds it (its ``build``: the demo
voter file, goals, universes and ten days of simulated traffic through the real stream logic).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from fieldstream import grafana_sql as gs
from fieldstream.board import PanelSource, Snapshot, fetch_snapshot, render
from fieldstream.board_panels import SECTIONS
from tests.factories.boards import TIME_TO, Demo, build, local, measures, monday
from tests.integration.test_dashboards import BOARDS

pytestmark = pytest.mark.integration

NOW = TIME_TO  # a Wednesday, 15:00 UTC
ORG, CAMPAIGN = "demo-org", "gotv-2026"
Row = dict[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    built = build(tmp_path_factory.mktemp("board"))
    try:
        yield built
    finally:
        built.store.close()


@pytest.fixture(scope="module")
def boards() -> list[dict[str, Any]]:
    return gs.load_dashboards(BOARDS)


@pytest.fixture(scope="module")
def snap(demo: Demo, boards: list[dict[str, Any]]) -> Snapshot:
    return fetch_snapshot(demo.store.query, NOW, PanelSource(boards))


def scoped(demo: Demo) -> list[Row]:
    return [e for e in demo.events if e["org_id"] == ORG and e["campaign_id"] == CAMPAIGN]


def panel_rows(demo: Demo, sql: str) -> list[Row]:
    columns, _types, rows = demo.store.query(sql)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def test_every_org_and_campaign_no_errors(demo: Demo, snap: Snapshot) -> None:
    assert snap.errors == {}
    pairs = {(e["org_id"], e["campaign_id"]) for e in demo.events}
    pairs |= {(g["org_id"], g["campaign_id"]) for g in demo.goals}
    assert [(c.org_id, c.campaign_id) for c in snap.campaigns] == sorted(pairs)
    assert len(pairs) >= 2
    # the first refresh also runs the variable queries: 1 org + 1 campaign per org + channel,
    # race_source and tz per campaign; later ones the panels of each campaign and 4 of our own
    # (the campaigns' clocks, voter match, dead letters, flow)
    orgs = {o for o, _ in pairs}
    assert snap.queries == 1 + len(orgs) + 3 * len(pairs) + len(SECTIONS) * len(pairs) + 4
    print(f"\nboard: {len(pairs)} campaigns, {snap.queries} queries on the first refresh")


def test_the_board_runs_the_panels_sql(
    demo: Demo, boards: list[dict[str, Any]], snap: Snapshot
) -> None:
    board = next(c for c in snap.campaigns if (c.org_id, c.campaign_id) == (ORG, CAMPAIGN))
    events = scoped(demo)
    variables: dict[str, gs.VariableValue] = {
        "org": ORG,
        "campaign": CAMPAIGN,
        "channel": sorted({e["channel"] for e in events}),
        "race_source": sorted({e["race_source"] for e in events}),
        "min_group_size": "1",  # staff only: every group shown
        "tz": demo.zone,
    }
    # the boards' default ranges (days back, days ahead)
    days = {
        "fs-progress": (28, 0),
        "fs-reach": (7, 0),
        "fs-coverage": (30, 0),
        "fs-shifts": (14, 7),
        "fs-quality": (7, 0),
    }
    by_uid = {b["uid"]: b for b in boards}
    for section, (uid, title) in SECTIONS.items():
        [q] = [q for q in gs.panel_queries(by_uid[uid]) if q.panel_title == title]
        back, ahead = days[uid]
        start, end = NOW - dt.timedelta(days=back), NOW + dt.timedelta(days=ahead)
        want = gs.render_sql(q.raw_sql, variables, start, end)
        assert board.sql[section] == want, section
    shifts = panel_rows(demo, board.sql["shifts"])
    assert {s.event_type: (s.scheduled, s.attended, s.no_shows) for s in board.shifts} == {
        r["event_type"]: (r["scheduled"], r["attended"], r["no_shows"]) for r in shifts
    }
    assert {s.event_type for s in board.shifts} == {
        "canvass",
        "phone_bank",
        "text_bank",
        "training",
    }

    goals = panel_rows(demo, board.sql["goals"])
    assert {g.metric: (g.target, g.actual, g.pace) for g in board.goals} == {
        r["metric"]: (r["target"], r["actual"], r["pace"]) for r in goals
    }
    assert len(board.goals) >= 3
    channels = panel_rows(demo, board.sql["channels"])
    assert {
        c.channel: (c.attempts, c.contacts, c.ids, c.people_reached) for c in board.channels
    } == {
        r["channel"]: (r["attempts"], r["contacts"], r["ids"], r["people_reached"])
        for r in channels
    }
    quality = panel_rows(demo, board.sql["quality"])
    assert quality, "the demo's day of shifts has flags"
    assert {(q.status, q.flags, q.held_contacts) for q in board.quality} == {
        (r["status"], r["flags"], r["held_contacts"]) for r in quality
    }
    race = panel_rows(demo, board.sql["race"])
    assert {g.label: (g.attempts, g.contacts, g.ids, g.people_reached) for g in board.by_race} == {
        f"{r['race']} ({r['race_source']})": (
            r["attempts"],
            r["contacts"],
            r["ids"],
            r["people_reached"],
        )
        for r in race
    }


def test_board_numbers_equal_a_recount(demo: Demo, snap: Snapshot) -> None:
    board = next(c for c in snap.campaigns if (c.org_id, c.campaign_id) == (ORG, CAMPAIGN))
    events = scoped(demo)
    week = monday(NOW, demo.zone)
    this_week = measures([e for e in events if monday(e["local_day"]) == week])
    targets = {
        g["metric"]: int(g["target"])
        for g in demo.goals
        if (g["org_id"], g["campaign_id"], g["week"]) == (ORG, CAMPAIGN, week.isoformat())
    }
    assert len(targets) >= 3 and all(this_week[m] > 0 for m in targets)
    assert {g.metric: (g.target, g.actual) for g in board.goals} == {
        m: (t, this_week[m]) for m, t in targets.items()
    }
    # the forecast of each goal, and nothing folded or voided in the demo
    assert {f.metric for f in board.forecasts} == set(targets)
    for f in board.forecasts:
        assert f.low <= f.projected <= f.high and f.actual == this_week[f.metric]
    assert (board.folded, board.voided) == (0, 0) and board.zone == demo.zone
    # who we are reaching, last 7 days (every local day they touch): every group, small ones too
    first, last = local(NOW - dt.timedelta(days=7), demo.zone), local(NOW, demo.zone)
    groups: dict[str, list[Row]] = defaultdict(list)
    for e in events:
        if first <= e["local_day"] <= last:
            groups[f"{e['race']} ({e['race_source']})"].append(e)
    want = {k: measures(v) for k, v in groups.items()}
    got = {g.label: g for g in board.by_race}
    assert set(got) == {k for k, v in want.items() if v["people_reached"] >= 1}
    for label, g in got.items():
        m = want[label]
        assert (g.attempts, g.contacts, g.ids, g.people_reached) == (
            m["attempts"],
            m["contacts"],
            m["ids"],
            m["people_reached"],
        ), label
    assert any(g.people_reached < 11 for g in board.by_race)  # shared boards would hide these


def test_refreshes_cost_the_panels_only(demo: Demo, boards: list[dict[str, Any]]) -> None:
    source = PanelSource(boards, org=ORG, campaign=CAMPAIGN)
    first = fetch_snapshot(demo.store.query, NOW, source)
    later = fetch_snapshot(demo.store.query, NOW + dt.timedelta(seconds=2), source)
    assert [(c.org_id, c.campaign_id) for c in later.campaigns] == [(ORG, CAMPAIGN)]
    assert later.queries == len(SECTIONS) + 4 < first.queries
    assert later.errors == {} and later.campaigns[0].goals == first.campaigns[0].goals
    console = Console(record=True, width=250)
    console.print(render(later))
    text = console.export_text()
    goal = later.campaigns[0].goals[0]
    assert f"{ORG} / {CAMPAIGN}  ({demo.zone})" in text and f"{goal.actual:,}" in text
    assert "min_group_size = 1" in text and "this week: forecast" in text
