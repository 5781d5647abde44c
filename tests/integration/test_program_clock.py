"""The program's own clock on real chDB: days, weeks and "texted once a day" in each campaign's
zone, around week boundaries and both DST change days, equal to a recount with zoneinfo; and a
zone edit re-stamps the stored contacts and recounts every rollup."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.config import CampaignConfig, OrgConfig, load_programs, write_programs
from schemas import ENRICHED_CONTACT, AvroCodec
from sinks.keeper import Keeper
from sinks.migrate import migrate
from sinks.rows import CONTACT_COLUMNS, contact_row
from sinks.store import LockedStore, open_store
from sinks.zones import ProgramClock
from tests.factories.clock import ORG, ZONES, by, events, local_day, measures, monday

pytestmark = pytest.mark.integration

BOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"

CODEC = AvroCodec()
WEEKS = [dt.date(2026, 3, 2), dt.date(2026, 3, 9), dt.date(2026, 10, 26), dt.date(2026, 11, 2)]
METRICS = ("attempts", "contacts", "ids", "people_reached")


def write_zones(path: Path, zones: dict[str, str]) -> None:
    campaigns: list[str | CampaignConfig] = [
        CampaignConfig(id=c, timezone=z) for c, z in zones.items()
    ]
    write_programs(path, [OrgConfig(id=ORG, campaigns=campaigns)], timezone="UTC")


class Store:
    def __init__(self, tmp: Path) -> None:
        self.programs = tmp / "programs.yaml"
        write_zones(self.programs, ZONES)
        self.store = LockedStore(open_store(f"chdb:///{tmp / 'chdb'}"))
        migrate(self.store.client)
        self.clock = ProgramClock(self.programs)
        self.keeper = Keeper(self.store, self.clock, overlap_s=3600)
        self.keeper.start_up()
        self.events = events()
        zone_of = self.clock.zone_of
        rows = [
            contact_row(rec, zone_of(rec["contact"]["org_id"], rec["contact"]["campaign_id"]))
            for rec in (CODEC.decode(CODEC.encode(ENRICHED_CONTACT, e))[1] for e in self.events)
        ]
        self.store.insert("contact_events", CONTACT_COLUMNS, rows, "clock:0")
        self.store.insert("contact_events", CONTACT_COLUMNS, rows[::3], "clock:1")  # redelivery
        goal_rows = [
            [ORG, c, w, m, 100, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
            for c in ZONES
            for w in WEEKS
            for m in METRICS
        ]
        self.store.insert(
            "goals",
            ["org_id", "campaign_id", "week_start", "metric", "target", "loaded_at"],
            goal_rows,
        )
        self.keeper.run_pass()

    def zone_of(self, campaign: str) -> str:
        return self.clock.zone_of(ORG, campaign)

    def rows(self, sql: str) -> list[list[Any]]:
        return self.store.rows(sql)


@pytest.fixture(scope="module")
def clock_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("clock"))
    try:
        yield s
    finally:
        s.store.close()


def daily_want(s: Store) -> dict[Any, dict[str, int]]:
    return by(s.events, s.zone_of, lambda e, day: (e["contact"]["campaign_id"], day))


def test_each_contact_is_on_its_campaigns_clock(clock_store: Store) -> None:
    s = clock_store
    got = {
        (str(e), str(c)): (str(tz), d)
        for e, c, tz, d in s.rows(
            "SELECT event_id, campaign_id, tz, local_day FROM contact_events FINAL"
        )
    }
    for e in s.events:
        c = e["contact"]
        zone = ZONES[c["campaign_id"]]
        assert got[(str(c["event_id"]), c["campaign_id"])] == (
            zone,
            local_day(c["occurred_at"], zone),
        )
    # 23:30 and 00:30 around midnight are two local days whatever UTC says
    west = sorted(d for (_, c), (_, d) in got.items() if c == "west")
    assert dt.date(2026, 3, 7) in west and dt.date(2026, 11, 2) in west


def test_daily_rollups_and_texted_once_a_day_equal_a_recount(clock_store: Store) -> None:
    s = clock_store
    want = daily_want(s)
    got = {
        (str(c), d): {"attempts": a, "contacts": n, "ids": i, "people_reached": p}
        for c, d, a, n, i, p in s.rows(
            "SELECT campaign_id, day, uniqExactMerge(attempts), uniqExactMerge(contacts), "
            "uniqExactMerge(ids), uniqExactMerge(people_reached) FROM contact_rollup_daily "
            "GROUP BY campaign_id, day"
        )
    }
    assert got == want
    # the one texted person: one attempt a local day, however many texts that day
    texts = by(
        [e for e in s.events if e["contact"]["channel"] == "text"],
        s.zone_of,
        lambda e, day: (e["contact"]["campaign_id"], day),
    )
    assert any(v["attempts"] == 1 for v in texts.values())
    nov1 = texts[("west", dt.date(2026, 11, 1))]
    assert nov1["attempts"] == 1  # four texts on the long Sunday, one attempt
    finalised = {
        (str(c), d): {"attempts": a, "contacts": n, "ids": i}
        for c, d, a, n, i in s.rows(
            "SELECT campaign_id, day, sum(attempts), sum(contacts), sum(ids) FROM counts_daily "
            "WHERE by_group = 0 "
            "GROUP BY campaign_id, day"
        )
    }
    assert finalised == {
        k: {m: v[m] for m in ("attempts", "contacts", "ids")} for k, v in want.items()
    }
    canvassers = {
        (str(c), d, str(who)): a
        for c, d, who, a in s.rows(
            "SELECT campaign_id, day, canvasser_id, sum(attempts) FROM canvasser_progress_daily "
            "GROUP BY campaign_id, day, canvasser_id"
        )
    }
    assert canvassers == {
        k: v["attempts"]
        for k, v in by(
            s.events,
            s.zone_of,
            lambda e, day: (e["contact"]["campaign_id"], day, e["contact"]["canvasser_id"]),
        ).items()
    }


def test_goal_progress_is_by_local_week(clock_store: Store) -> None:
    s = clock_store
    want = by(s.events, s.zone_of, lambda e, day: (e["contact"]["campaign_id"], monday(day)))
    got = {
        (str(c), w, str(m)): a
        for c, w, m, a in s.rows(
            "SELECT campaign_id, week_start, metric, actual FROM goal_progress"
        )
    }
    expected = {
        (c, w, m): want.get((c, w), dict.fromkeys(METRICS, 0))[m]
        for c in ZONES
        for w in WEEKS
        for m in METRICS
    }
    assert got == expected
    # Sunday 23:30 in Los Angeles is Monday in UTC: it still counts toward the week it ends
    assert got[("west", dt.date(2026, 10, 26), "contacts")] == sum(
        1
        for e in s.events
        if e["contact"]["campaign_id"] == "west"
        and e["contact"]["channel"] == "door"
        and monday(local_day(e["contact"]["occurred_at"], ZONES["west"])) == dt.date(2026, 10, 26)
    )


def test_periods_and_match_on_the_local_clock(clock_store: Store) -> None:
    s = clock_store
    for campaign, zone in ZONES.items():
        mine = [e for e in s.events if e["contact"]["campaign_id"] == campaign]
        for period, key in (("day", lambda d: d), ("week", monday)):
            got = {
                r[0].date() if isinstance(r[0], dt.datetime) else r[0]: r[1]
                for r in s.rows(
                    f"SELECT period_start, sum(contacts) FROM contact_progress_by_period("
                    f"tz = '{zone}') WHERE period = '{period}' AND campaign_id = '{campaign}' "
                    "GROUP BY period_start"
                )
            }
            want = by(mine, s.zone_of, lambda e, day, key=key: key(day))
            assert got == {k: v["contacts"] for k, v in want.items() if v["contacts"]}, period
        match = dict(
            s.rows(
                f"SELECT day, sum(events) FROM match_rate WHERE campaign_id = '{campaign}' "
                "GROUP BY day"
            )
        )
        assert match == _events_per_day(mine)


def _events_per_day(rows: list[dict[str, Any]]) -> dict[dt.date, int]:
    out: dict[dt.date, int] = {}
    for e in rows:
        c = e["contact"]
        d = local_day(c["occurred_at"], ZONES[c["campaign_id"]])
        out[d] = out.get(d, 0) + 1
    return out


# --- the boards' "today" and "this week", and the report, on the campaign's clock -----------


def test_the_boards_this_week_and_today_are_local(clock_store: Store) -> None:
    from fieldstream.board import PanelSource, fetch_snapshot
    from fieldstream.grafana_sql import load_dashboards
    from tests.factories.clock import utc_of

    s = clock_store
    boards = load_dashboards(BOARDS)
    for local_now, week in (
        (dt.datetime(2026, 11, 1, 23, 45), dt.date(2026, 10, 26)),  # Sunday night: last week
        (dt.datetime(2026, 11, 2, 0, 45), dt.date(2026, 11, 2)),  # Monday: a new week
    ):
        now = utc_of(local_now, 0, ZONES["west"])
        snap = fetch_snapshot(s.store.query, now, PanelSource(boards, org=ORG, campaign="west"))
        assert snap.errors == {}
        [board] = snap.campaigns
        mine = [e for e in s.events if e["contact"]["campaign_id"] == "west"]
        so_far = [e for e in mine if e["contact"]["occurred_at"] <= now]
        want = by(so_far, s.zone_of, lambda e, day: monday(day))[week]
        assert {g.metric: g.actual for g in board.goals} == {m: want[m] for m in METRICS}
        assert sum(c.attempts for c in board.channels) == want["attempts"]
        assert board.zone == ZONES["west"]
        # today's voter match is the campaign's today
        today = local_now.date()
        assert sum(m.events for m in snap.match_rate) == sum(
            1
            for e in s.events
            if local_day(e["contact"]["occurred_at"], s.zone_of(e["contact"]["campaign_id"]))
            == (today if e["contact"]["campaign_id"] == "west" else _east_today(now))
        )


def _east_today(now: dt.datetime) -> dt.date:
    return local_day(now, ZONES["east"])


def test_the_report_puts_weeks_and_days_on_the_clock(clock_store: Store, tmp_path: Path) -> None:
    from fieldstream.report import write_report
    from sinks.remote import DirectAccess

    s = clock_store
    start = dt.datetime(2026, 10, 26, 7, tzinfo=dt.UTC)  # Monday 00:00 in Los Angeles
    end = dt.datetime(2026, 11, 3, 8, tzinfo=dt.UTC)  # Tuesday 00:00 in Los Angeles
    report = write_report(
        DirectAccess(s.store).query,
        tmp_path / "r.html",
        k=1,
        org=ORG,
        campaign="west",
        time_from=start,
        time_to=end,
        dashboards=BOARDS,
        now=end,
    )
    panels = {p.title: p for section in report.sections for p in section.panels}
    assert all(p.error is None for p in panels.values()), [p.error for p in panels.values()]
    weeks = by(
        [e for e in s.events if e["contact"]["campaign_id"] == "west"],
        s.zone_of,
        lambda e, day: monday(day),
    )
    got = {
        (r["week_start"], r["metric"]): r["actual"]
        for r in panels["Goals by week"].records()
        if r["metric"] == "contacts"
    }
    assert got == {
        (w, "contacts"): weeks.get(w, {"contacts": 0})["contacts"]
        for w in (dt.date(2026, 10, 26), dt.date(2026, 11, 2))
    }
    per_day: dict[dt.date, int] = {}
    for r in panels["Attempts and contacts per day, by channel"].records():
        day = r["time"].astimezone(ZoneInfo(ZONES["west"])).date()
        per_day[day] = per_day.get(day, 0) + int(r["contacts"])
    days = by(
        [e for e in s.events if e["contact"]["campaign_id"] == "west"],
        s.zone_of,
        lambda e, day: day,
    )
    assert per_day == {
        d: v["contacts"]
        for d, v in days.items()
        if dt.date(2026, 10, 26) <= d <= dt.date(2026, 11, 3) and v["contacts"]
    }


def test_a_zone_edit_restamps_and_recounts(clock_store: Store) -> None:
    """Last in this module: it moves the shared store to another zone."""
    s = clock_store
    before = daily_want(s)
    moved = {"west": "Asia/Kolkata", "east": ZONES["east"]}  # +05:30, no DST
    write_zones(s.programs, moved)
    assert load_programs(s.programs).zone_of(ORG, "west") == "Asia/Kolkata"
    assert s.clock.watched is not None
    s.clock.watched._stamp = None  # the rewrite can keep the file's size and second
    s.keeper.run_pass()
    after = by(s.events, lambda c: moved[c], lambda e, day: (e["contact"]["campaign_id"], day))
    assert after != before
    got = {
        (str(c), d): {"attempts": a, "contacts": n, "ids": i, "people_reached": p}
        for c, d, a, n, i, p in s.rows(
            "SELECT campaign_id, day, uniqExactMerge(attempts), uniqExactMerge(contacts), "
            "uniqExactMerge(ids), uniqExactMerge(people_reached) FROM contact_rollup_daily "
            "GROUP BY campaign_id, day"
        )
    }
    assert got == after
    weeks = {
        (str(c), w): (a, n)
        for c, w, a, n in s.rows(
            "SELECT campaign_id, week_start, sum(attempts) AS a, sum(contacts) FROM goal_actuals "
            "GROUP BY campaign_id, week_start HAVING a != 0"
        )
    }
    want_weeks = by(
        s.events, lambda c: moved[c], lambda e, day: (e["contact"]["campaign_id"], monday(day))
    )
    assert weeks == {k: (v["attempts"], v["contacts"]) for k, v in want_weeks.items()}
    zones = dict(s.rows("SELECT campaign_id, tz FROM program_zones FINAL"))
    assert zones == moved
    stamped = dict(s.rows("SELECT campaign_id, groupUniqArray(tz) FROM contact_events GROUP BY 1"))
    assert stamped == {c: [z] for c, z in moved.items()}
    assert measures(s.events, lambda c: moved[c])["contacts"] == len(s.events) // 2
