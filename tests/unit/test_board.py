"""The board: render() shows a snapshot's numbers; fetch_snapshot maps canned rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Console

from fieldstream.board import (
    ChannelRow,
    CoverageRow,
    GoalRow,
    GroupRow,
    MatchRow,
    Snapshot,
    fetch_snapshot,
    render,
)

# Thursday 12:00 UTC: 3.5 days into the week
NOW = dt.datetime(2026, 10, 15, 12, 0, tzinfo=dt.UTC)


def _text(snap: Snapshot) -> str:
    console = Console(record=True, width=200)
    console.print(render(snap))
    return console.export_text()


def test_render_shows_the_numbers() -> None:
    snap = Snapshot(
        NOW,
        goals=[GoalRow("demo-org", "gotv-2026", "attempts", 16200, 4321, 8100.0)],
        channels=[ChannelRow("door", 1234, 370, 300, 150, 90, 60)],
        by_race=[GroupRow("black (bisg)", 77, 22, 11)],
        by_sex=[GroupRow("female", 640, 200, 150)],
        coverage=[CoverageRow("demo-org", "gotv-2026", 400, 1600)],
        match_rate=[MatchRow("hustle", 2000, 1740), MatchRow("van", 900, 899)],
        dead_letters=[("unknown_campaign", 42)],
        events_per_s=19.5,
        freshness_p50_s=0.84,
        errors={"coverage": "StoreError: table universes does not exist"},
    )
    text = _text(snap)
    for expected in (
        "gotv-2026",
        "4,321",
        "16,200",
        "8,100 (53%)",
        "1,234",
        "30%",  # contact rate 370/1234
        "black (bisg)",
        "female",
        "25%",  # coverage 400/1600
        "unknown_campaign",
        "42",
        "19.5",
        "0.84s",
        "table universes does not exist",
        "today's voter match",
        "hustle",
        "1,740",
        "260",  # hustle's unmatched
        "87%",  # hustle's match rate 1740/2000
        "100%",  # van's 899/900 rounds up: shown, not hidden
    ):
        assert expected in text, expected


def test_match_rows_count_the_unmatched() -> None:
    assert MatchRow("callhub", 50, 35).unmatched == 15
    text = _text(Snapshot(NOW, match_rate=[MatchRow("callhub", 50, 35)]))
    row = next(line for line in text.splitlines() if "callhub" in line)
    assert [cell.strip() for cell in row.split("│")[1:6]] == ["callhub", "50", "35", "15", "70%"]


def test_render_empty_snapshot() -> None:
    text = _text(Snapshot(NOW))
    assert "events/s (last min): -" in text and "this week" in text


CANNED: dict[str, list[list[Any]]] = {
    "FROM goal_progress": [["demo-org", "gotv-2026", "attempts", 1000, 250]],
    "GROUP BY channel": [["phone", 100, 20, 15, 5, 6, 4]],
    "GROUP BY race": [["white", "self_reported", 50, 10, 8]],
    "GROUP BY sex": [["male", 40, 9, 7]],
    "FROM universe_coverage": [["allies-org", "allies-gotv", 10, 1000]],
    "FROM match_rate": [["callhub", 80, 60], ["van", 100, 99]],
    "FROM dead_letters": [["future_occurred_at", 3]],
    "count() / 60": [[12.5, float("nan")]],
}


def fake_query(sql: str) -> tuple[list[str], list[list[Any]]]:
    for marker, rows in CANNED.items():
        if marker in sql:
            return [], rows
    raise AssertionError(f"unexpected query {sql}")


def test_fetch_snapshot_maps_columns() -> None:
    snap = fetch_snapshot(fake_query, NOW)
    assert snap.errors == {}
    assert snap.goals == [GoalRow("demo-org", "gotv-2026", "attempts", 1000, 250, 500.0)]
    assert snap.channels == [ChannelRow("phone", 100, 20, 15, 5, 6, 4)]
    assert snap.channels[0].contact_rate == 0.2
    assert snap.by_race == [GroupRow("white (self_reported)", 50, 10, 8)]
    assert snap.by_sex == [GroupRow("male", 40, 9, 7)]
    assert snap.coverage == [CoverageRow("allies-org", "allies-gotv", 10, 1000)]
    assert snap.match_rate == [MatchRow("callhub", 80, 60), MatchRow("van", 100, 99)]
    assert snap.dead_letters == [("future_occurred_at", 3)]
    assert snap.events_per_s == 12.5 and snap.freshness_p50_s is None


def test_fetch_snapshot_uses_this_week_and_today() -> None:
    seen: list[str] = []

    def query(sql: str) -> tuple[list[str], list[list[Any]]]:
        seen.append(sql)
        return [], []

    fetch_snapshot(query, NOW)
    assert any("goal_progress" in s and "2026-10-12" in s for s in seen)
    assert any("contact_progress_daily" in s and "2026-10-15" in s for s in seen)
    assert any("FROM match_rate" in s and "2026-10-15" in s for s in seen)


def test_a_failing_query_is_shown_not_raised() -> None:
    def query(sql: str) -> tuple[list[str], list[list[Any]]]:
        if "dead_letters" in sql:
            raise RuntimeError("Code: 60. Unknown table dead_letters\nstack...")
        return fake_query(sql)

    snap = fetch_snapshot(query, NOW)
    assert set(snap.errors) == {"dead letters"}
    assert "Unknown table dead_letters" in snap.errors["dead letters"]
    assert snap.goals and snap.dead_letters == []
    assert "Unknown table dead_letters" in _text(snap)
