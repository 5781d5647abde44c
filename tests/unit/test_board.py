"""The board: render() shows a snapshot's numbers; fetch_snapshot runs the dashboards' panels
(their rendered SQL, per org/campaign) and maps their rows by column name."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rich.console import Console

from core.errors import ConfigError
from core.settings import DASHBOARDS
from fieldstream.board import (
    CampaignBoard,
    ChannelRow,
    CoverageRow,
    ForecastRow,
    GoalRow,
    GroupRow,
    HeldRow,
    MatchRow,
    PanelSource,
    ShiftRow,
    Snapshot,
    fetch_snapshot,
    render,
)
from fieldstream.board_panels import SECTIONS, QualityRow
from fieldstream.grafana_sql import load_dashboards

# Thursday 12:00 UTC: 3.5 days into the week
NOW = dt.datetime(2026, 10, 15, 12, 0, tzinfo=dt.UTC)
Result = tuple[list[str], list[list[Any]]]


def _text(snap: Snapshot) -> str:
    console = Console(record=True, width=320)
    console.print(render(snap))
    return console.export_text()


def _campaign() -> CampaignBoard:
    return CampaignBoard(
        "demo-org",
        "gotv-2026",
        goals=[GoalRow("attempts", 16200, 4321, 8100.0)],
        channels=[ChannelRow("door", 1234, 370, 300, 290)],
        by_race=[GroupRow("black (bisg)", 77, 22, 11, 3)],
        by_sex=[GroupRow("female", 640, 200, 150, 180)],
        coverage=CoverageRow(400, 1600, 120),
    )


def test_render_shows_the_numbers() -> None:
    snap = Snapshot(
        NOW,
        campaigns=[_campaign()],
        match_rate=[MatchRow("hustle", 2000, 1740), MatchRow("van", 900, 899)],
        held=[HeldRow("van-app", "unknown_survey_question", 0, 42)],
        events_per_s=19.5,
        freshness_p50_s=0.84,
        errors={"demo-org / gotv-2026: coverage": "StoreError: table universes does not exist"},
        queries=8,
    )
    text = _text(snap)
    for expected in (
        "demo-org / gotv-2026",
        "4,321",
        "16,200",
        "8,100 (53%)",
        "1,234",
        "30%",  # contact rate 370/1234
        "black (bisg)",
        "female",
        "400 of 1,600 attempted (25%)",
        "120 talked to (8%)",
        "van-app",
        "unknown_survey_question",
        "42",
        "counted, answers held",
        "19.5",
        "0.84s",
        "table universes does not exist",
        "today's voter match",
        "hustle",
        "1,740",
        "260",  # hustle's unmatched
        "87%",  # hustle's match rate 1740/2000
        "100%",  # van's 899/900 rounds up: shown, not hidden
        "min_group_size = 1",
        "do not share it",
        "8 queries this refresh",
    ):
        assert expected in text, expected
    # a group of 3 people is shown: the board is for the program's staff
    row = next(line for line in text.splitlines() if "black (bisg)" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    at = cells.index("black (bisg)")
    assert cells[at : at + 5] == ["black (bisg)", "77", "22", "11", "3"]


def test_match_rows_count_the_unmatched() -> None:
    assert MatchRow("callhub", 50, 35).unmatched == 15
    text = _text(Snapshot(NOW, match_rate=[MatchRow("callhub", 50, 35)]))
    row = next(line for line in text.splitlines() if "callhub" in line)
    assert [cell.strip() for cell in row.split("│")[1:6]] == ["callhub", "50", "35", "15", "70%"]


def test_render_empty_snapshot() -> None:
    text = _text(Snapshot(NOW))
    assert "events/s (last min): -" in text and "no org or campaign found" in text


# marker in the SQL -> (columns, rows); the panels' columns are their expectedColumns
CANNED: dict[str, Result] = {
    "AS tz FROM": (["tz"], [["America/Chicago"]]),
    "FROM program_zones GROUP BY": (["o", "c", "z"], [["demo-org", "gotv-2026", "UTC"]]),
    "SELECT org_id FROM": (["org_id"], [["demo-org"]]),
    "SELECT campaign_id FROM": (["campaign_id"], [["gotv-2026"]]),
    "DISTINCT toString(channel)": (["channel"], [["door"], ["phone"]]),
    "DISTINCT toString(race_source)": (["race_source"], [["bisg"], ["self_reported"]]),
    "FROM goal_progress": (
        ["metric", "target", "actual", "pace", "ahead_of_pace", "done"],
        [["attempts", 1000, 250, 500, -250, 0.25]],
    ),
    "FROM goal_forecasts": (
        [
            "metric",
            "target",
            "actual",
            "projected",
            "low",
            "high",
            "current_rate",
            "reached_on",
            "projected_done",
        ],
        [["attempts", 1000, 250, 1100, 900, 1300, 800, "2026-10-17", 1.1]],
    ),
    "FROM contact_folds": (["folded", "voided"], [[3, 2]]),
    "ORDER BY attempts DESC": (
        ["channel", "attempts", "contacts", "ids", "people_reached", "contact_rate"],
        [["phone", 100, 20, 15, 18, 0.2]],
    ),
    "GROUP BY race, race_source": (
        [
            "race",
            "race_source",
            "attempts",
            "contacts",
            "ids",
            "people_reached",
            "contact_rate",
            "id_rate",
        ],
        [["white", "self_reported", 50, 10, 8, 2, 0.2, 0.8]],
    ),
    "GROUP BY sex": (
        ["sex", "attempts", "contacts", "ids", "people_reached", "contact_rate", "id_rate"],
        [["male", 40, 9, 7, 9, 0.225, 0.778]],
    ),
    "FROM universe_coverage\nWHERE": (
        ["universe", "attempted", "contacted", "attempted_share", "contacted_share"],
        [[1000, 10, 4, 0.01, 0.004]],
    ),
    "GROUP BY event_type": (
        ["event_type", "scheduled", "attended", "no_shows", "cancelled", "flake_rate"],
        [["canvass", 12, 7, 3, 2, 0.3]],
    ),
    "FROM van_writeback FINAL": (
        ["source", "in_van", "contacts", "waiting", "uncertain", "rejected"],
        [["van", 90, 100, 5, 2, 3]],
    ),
    "GROUP BY status": (
        ["status", "flags", "held_flags", "held_contacts"],
        [["approved", 1, 0, 0], ["pending", 2, 2, 55]],
    ),
    "FROM match_rate": (["s", "e", "m"], [["callhub", 80, 60], ["van", 100, 99]]),
    "FROM held_by_source": (
        ["source", "reason_code", "held_whole", "counted_answers_held", "last_failed_at"],
        [["van-app", "unknown_result_code", 3, 0, "2026-10-15 11:00:00"]],
    ),
    "count() / 60": (["a", "b"], [[12.5, float("nan")]]),
}


class FakeStore:
    def __init__(self, canned: dict[str, Result] | None = None, fail: str | None = None) -> None:
        self.canned = canned or CANNED
        self.fail = fail
        self.seen: list[str] = []

    def query(self, sql: str) -> Result:
        self.seen.append(sql)
        if self.fail is not None and self.fail in sql:
            raise RuntimeError(f"Code: 60. Unknown table near {self.fail}\nstack...")
        for marker, result in self.canned.items():
            if marker in sql:
                return result
        raise AssertionError(f"unexpected query {sql}")


@pytest.fixture(scope="module")
def boards() -> list[dict[str, Any]]:
    return load_dashboards(DASHBOARDS)


def test_fetch_snapshot_maps_panel_columns(boards: list[dict[str, Any]]) -> None:
    store = FakeStore()
    snap = fetch_snapshot(store.query, NOW, PanelSource(boards))
    assert snap.errors == {}
    [c] = snap.campaigns
    assert (c.org_id, c.campaign_id) == ("demo-org", "gotv-2026")
    assert c.goals == [GoalRow("attempts", 1000, 250, 500.0)]
    assert c.channels == [ChannelRow("phone", 100, 20, 15, 18)]
    assert c.channels[0].contact_rate == 0.2
    assert c.by_race == [GroupRow("white (self_reported)", 50, 10, 8, 2)]
    assert c.by_sex == [GroupRow("male", 40, 9, 7, 9)]
    assert c.coverage == CoverageRow(10, 1000, 4)
    assert c.shifts == [ShiftRow("canvass", 12, 7, 3, 2, 0.3)]
    assert "volunteer shifts (not contacts)" in _text(snap) and "30%" in _text(snap)
    assert c.quality == [QualityRow("approved", 1, 0), QualityRow("pending", 2, 55)]
    assert snap.match_rate == [MatchRow("callhub", 80, 60), MatchRow("van", 100, 99)]
    assert snap.held == [HeldRow("van-app", "unknown_result_code", 3, 0)]
    assert snap.events_per_s == 12.5 and snap.freshness_p50_s is None
    assert c.forecasts == [
        ForecastRow("attempts", 1000, 250, 1100, 900, 1300, dt.date(2026, 10, 17))
    ]
    assert (c.folded, c.voided, c.zone) == (3, 2, "America/Chicago")
    assert set(c.sql) == set(SECTIONS)


def test_panel_sql_has_the_variables_small_groups_shown(boards: list[dict[str, Any]]) -> None:
    snap = fetch_snapshot(FakeStore().query, NOW, PanelSource(boards))
    sql = snap.campaigns[0].sql
    assert "org_id = 'demo-org' AND campaign_id = 'gotv-2026'" in sql["goals"]
    # $__toTime is NOW; weeks and days are on the campaign's clock (the tz variable)
    to_time = f"toMonday(toDateTime({int(NOW.timestamp())}), 'America/Chicago')"
    assert to_time in sql["goals"] and to_time in sql["channels"]
    assert "channel IN ('door','phone')" in sql["channels"]
    assert "race_source IN ('bisg','self_reported')" in sql["race"]
    assert "WHERE people_reached >= 1\n" in sql["race"]  # min_group_size 1, not 11
    assert "WHERE people_reached >= 1\n" in sql["sex"]
    # the reach board's default range is the last 7 days, whole local days
    week_ago = int((NOW - dt.timedelta(days=7)).timestamp())
    assert f"day >= toDate(toDateTime({week_ago}), 'America/Chicago')" in sql["race"]
    assert all("$" not in s for s in sql.values())


def test_queries_per_refresh(boards: list[dict[str, Any]]) -> None:
    store = FakeStore()
    source = PanelSource(boards)
    first = fetch_snapshot(store.query, NOW, source)
    # org, campaign, channel and tz (once for all boards), race_source; 10 panels; 4 of our own
    # (the clocks, match rate, held back and flow)
    assert first.queries == len(store.seen) == 5 + len(SECTIONS) + 4 == 19
    later = fetch_snapshot(store.query, NOW + dt.timedelta(seconds=2), source)
    assert later.queries == len(SECTIONS) + 4 == 14  # variables as Grafana: on opening
    assert later.campaigns[0].goals == first.campaigns[0].goals
    again = fetch_snapshot(store.query, NOW + dt.timedelta(seconds=31), source)
    assert again.queries == 19  # re-read: a new campaign shows within half a minute


def test_every_org_and_campaign_or_the_chosen_one(boards: list[dict[str, Any]]) -> None:
    canned = dict(CANNED)
    canned["SELECT org_id FROM"] = (["org_id"], [["allies-org"], ["demo-org"]])
    canned["SELECT campaign_id FROM"] = (["campaign_id"], [["c1"], ["c2"]])
    snap = fetch_snapshot(FakeStore(canned).query, NOW, PanelSource(boards))
    pairs = [(c.org_id, c.campaign_id) for c in snap.campaigns]
    assert pairs == [(o, c) for o in ("allies-org", "demo-org") for c in ("c1", "c2")]
    assert "org_id = 'allies-org' AND campaign_id = 'c2'" in snap.campaigns[1].sql["goals"]

    store = FakeStore(canned)
    chosen = fetch_snapshot(store.query, NOW, PanelSource(boards, org="x-org", campaign="x1"))
    assert [(c.org_id, c.campaign_id) for c in chosen.campaigns] == [("x-org", "x1")]
    assert not any("SELECT org_id FROM" in s or "SELECT campaign_id FROM" in s for s in store.seen)
    one = fetch_snapshot(FakeStore(canned).query, NOW, PanelSource(boards, campaign="c2"))
    assert [(c.org_id, c.campaign_id) for c in one.campaigns] == [
        ("allies-org", "c2"),
        ("demo-org", "c2"),
    ]


def test_a_failing_query_is_shown_not_raised(boards: list[dict[str, Any]]) -> None:
    snap = fetch_snapshot(FakeStore(fail="GROUP BY race").query, NOW, PanelSource(boards))
    assert set(snap.errors) == {"demo-org / gotv-2026: race"}
    assert "Unknown table near GROUP BY race" in snap.errors["demo-org / gotv-2026: race"]
    c = snap.campaigns[0]
    assert c.goals and c.by_sex and c.by_race == []
    assert "Unknown table near GROUP BY race" in _text(snap)

    own = fetch_snapshot(FakeStore(fail="held_by_source").query, NOW, PanelSource(boards))
    assert set(own.errors) == {"held back"} and own.campaigns[0].goals


def test_failing_variable_queries_keep_the_last_campaigns(boards: list[dict[str, Any]]) -> None:
    source = PanelSource(boards)
    assert fetch_snapshot(FakeStore().query, NOW, source).campaigns
    later = NOW + dt.timedelta(minutes=5)
    snap = fetch_snapshot(FakeStore(fail="SELECT org_id FROM").query, later, source)
    assert "orgs and campaigns" in snap.errors
    assert [c.org_id for c in snap.campaigns] == ["demo-org"] and snap.campaigns[0].goals
    fresh = fetch_snapshot(FakeStore(fail="SELECT org_id FROM").query, NOW, PanelSource(boards))
    assert fresh.campaigns == [] and fresh.match_rate  # the rest of the board still shows


def test_a_missing_panel_is_a_config_error(boards: list[dict[str, Any]]) -> None:
    renamed = [
        {**b, "panels": [{**p, "title": "renamed"} for p in b["panels"]]}
        if b["uid"] == "fs-reach"
        else b
        for b in boards
    ]
    with pytest.raises(ConfigError, match="By race"):
        PanelSource(renamed)


def test_the_board_shows_what_is_in_van_per_source(boards: list[dict[str, Any]]) -> None:
    snap = fetch_snapshot(FakeStore().query, NOW, PanelSource(boards))
    [van] = snap.campaigns[0].in_van
    assert (van.source, van.in_van, van.contacts, van.uncertain) == ("van", 90, 100, 2)
    assert "in VAN: van 90 of 100 (2 uncertain)" in _text(snap)
