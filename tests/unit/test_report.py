"""fieldstream.report from fixed query results: charts, numbers, suppression, the boards' SQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from fieldstream.report import build_report, render_html
from fieldstream.report.fetch import grafana_time
from fieldstream.report.model import PanelData, Report, Section, format_value
from fieldstream.report.privacy import group_size_column, suppress_panel

NOW = dt.datetime(2026, 11, 4, 15, tzinfo=dt.UTC)  # a Wednesday
CH = {"type": "grafana-clickhouse-datasource", "uid": "clickhouse"}
PROM = {"type": "prometheus", "uid": "prometheus"}
K = 11


def report_of(*panels: PanelData) -> Report:
    section = Section("Board", "", NOW - dt.timedelta(days=7), NOW, list(panels))
    return Report("org-a", "gotv", NOW, K, [section])


def race_panel() -> PanelData:
    rows = [
        ["black", "self_reported", 1200, 800, 310, 640, 0.667],
        ["white", "bisg", 900, 500, 120, 430, 0.556],
        ["asian", "bisg", 40, 9, 3, 7, 0.225],  # 7 people: small
        ["latino", "vendor_model", 60, 30, 12, 25, 0.5],  # smallest other: complement
    ]
    return PanelData(
        "Who we are reaching",
        "By race, with the source of race",
        "table",
        ["race", "race_source", "attempts", "contacts", "ids", "people_reached", "contact_rate"],
        rows,
        units={"contact_rate": "percentunit"},
    )


RACE_SQL = "SELECT ... GROUP BY race, race_source HAVING people_reached >= ${min_group_size}"


def test_numbers_are_written_as_given() -> None:
    assert format_value(12345) == "12,345"
    assert format_value(0.4567, "percentunit") == "45.7%"
    assert format_value(38.5, "percent") == "38.5%"
    assert format_value(2.0) == "2"
    assert format_value(0.1234) == "0.123"
    assert format_value(None) == "–"
    assert format_value(dt.date(2026, 11, 2)) == "2026-11-02"
    assert format_value(dt.datetime(2026, 11, 2, 9, 30)) == "2026-11-02 09:30"


def test_group_size_is_the_boards_threshold_column() -> None:
    cols = ["race", "attempts", "people_reached"]
    assert group_size_column(RACE_SQL, cols) == "people_reached"
    assert group_size_column("WHERE g.universe >= ${min_group_size}", ["universe"]) == "universe"
    assert group_size_column("SELECT 1", ["turf", "attempted", "universe"]) == "universe"


def test_small_groups_and_their_complement_are_suppressed_in_the_page() -> None:
    panel = suppress_panel(race_panel(), RACE_SQL, K)
    flags = {r[0]: f for r, f in zip(panel.rows, panel.suppressed, strict=True)}
    assert flags == {"black": None, "white": None, "asian": "small", "latino": "complementary"}
    asian = panel.rows[2]
    assert asian[:2] == ["asian", "bisg"] and asian[2:] == [None] * 5  # every measure blanked
    html = render_html(report_of(panel))
    body = html.split("<tbody>", 1)[1]
    assert body.count(">suppressed<") == 5 and body.count(">suppressed*<") == 5
    assert "1,200" in body and "66.7%" in body  # published rows as given
    for hidden in (">40<", ">9<", ">60<", ">30<", ">25<"):
        assert hidden not in body
    assert "groups of fewer than 11 people" in html
    assert "2 group(s) suppressed" in html


def test_zero_people_is_a_small_group_and_a_store_null_stays_hidden() -> None:
    panel = PanelData(
        "b",
        "By sex",
        "table",
        ["sex", "attempts", "people_reached"],
        [["female", 500, 300], ["male", 400, 250], ["unknown", 6, 0], ["x", 3, None]],
    )
    out = suppress_panel(panel, RACE_SQL, K)
    assert out.suppressed == [None, None, "small", "small"]
    assert out.rows[2] == ["unknown", None, None] and out.rows[3] == ["x", None, None]


def test_a_group_panel_without_a_size_is_withheld() -> None:
    panel = PanelData("b", "shares", "table", ["race", "contact_rate"], [["black", 0.5]])
    out = suppress_panel(panel, "SELECT race, contact_rate", K)
    assert out.rows == [] and out.note and "withheld" in out.note


def test_charts_are_inline_svg() -> None:
    series = PanelData(
        "Scripts and IDs",
        "IDs collected by channel",
        "timeseries",
        ["time", "channel", "ids"],
        [
            [dt.datetime(2026, 11, d, tzinfo=dt.UTC), ch, n]
            for d in (2, 3, 4)
            for ch, n in (("door", 10 * d), ("phone", 7 * d))
        ],
        draw_style="bars",
    )
    gauge = PanelData(
        "Progress",
        "This week",
        "bargauge",
        ["metric", "done_pct", "pace_pct"],
        [["attempts", 61.5, 42.9], ["contacts", 38.0, 42.9]],
        units={"done_pct": "percent", "pace_pct": "percent"},
        value_fields="/_pct$/",
    )
    bars = PanelData(
        "Reach", "By sex", "barchart", ["sex", "attempts"], [["female", 500], ["male", 400]]
    )
    geo = PanelData(
        "Coverage",
        "Coverage by precinct",
        "geomap",
        ["precinct", "latitude", "longitude", "universe", "attempted_share"],
        [["Erie / 1", 42.1, -80.1, 120, 0.25], ["Erie / 2", 42.2, -80.0, 90, 0.6]],
        units={"attempted_share": "percentunit"},
    )
    html = render_html(report_of(series, gauge, bars, geo))
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    figures = re.findall(r"<figure[^>]*>(<svg.*?</svg>)</figure>", html, flags=re.S)
    assert len(figures) == 4
    assert all('width="100%"' in svg[:400] for svg in figures)
    assert "door" in figures[0] and "phone" in figures[0]  # one series per channel, labelled
    assert "attempts" in figures[1] and "pace_pct" in figures[1]
    assert "female" in figures[2]
    assert "attempted_share" in figures[3]
    # the data behind a chart is still there, as given
    assert ">61.5%<" in html and ">500<" in html


def test_a_failed_query_shows_on_its_panel() -> None:
    broken = PanelData("b", "Broken", "table", [], [], error="StoreError: no such table")
    html = render_html(report_of(broken))
    assert "The query failed: StoreError: no such table" in html


def test_text_is_escaped() -> None:
    panel = PanelData("b", "<b>t</b>", "table", ["turf"], [["<script>x</script>"]])
    html = render_html(report_of(panel))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_grafana_relative_times() -> None:
    assert grafana_time("now", NOW) == NOW
    assert grafana_time("now-7d", NOW) == NOW - dt.timedelta(days=7)
    assert grafana_time("now-6h", NOW) == NOW - dt.timedelta(hours=6)
    assert grafana_time("now/w", NOW) == dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    assert grafana_time("now-1d/d", NOW) == dt.datetime(2026, 11, 3, tzinfo=dt.UTC)


# --- the boards' queries, rendered and run through a query function -------------------------


def board() -> dict[str, Any]:
    target = {"datasource": CH, "refId": "A", "queryType": "table", "format": 1}
    return {
        "uid": "fs-reach",
        "title": "Who we are reaching",
        "time": {"from": "now-7d", "to": "now"},
        "templating": {
            "list": [
                {"name": "org", "type": "query", "datasource": CH, "query": "SELECT 'orgs'"},
                {
                    "name": "campaign",
                    "type": "query",
                    "datasource": CH,
                    "query": "SELECT 'campaigns' WHERE org = '${org}'",
                },
                {
                    "name": "channel",
                    "type": "query",
                    "datasource": CH,
                    "multi": True,
                    "includeAll": True,
                    "query": "SELECT 'channels'",
                },
                {"name": "min_group_size", "type": "constant", "query": "11"},
            ]
        },
        "panels": [
            {
                "type": "table",
                "title": "By race, with the source of race",
                "datasource": CH,
                "gridPos": {"w": 12},
                "fieldConfig": {
                    "defaults": {},
                    "overrides": [
                        {
                            "matcher": {"id": "byRegexp", "options": "/_rate$/"},
                            "properties": [{"id": "unit", "value": "percentunit"}],
                        }
                    ],
                },
                "targets": [
                    {
                        **target,
                        "rawSql": "SELECT race FROM r WHERE org_id = '${org}' AND campaign_id"
                        " = '${campaign}' AND channel IN (${channel}) AND $__timeFilter(bucket)"
                        " HAVING people_reached >= ${min_group_size}",
                    }
                ],
            },
            {
                "type": "timeseries",
                "title": "Ingest rate",
                "datasource": PROM,
                "targets": [{"refId": "A", "expr": "sum(rate(x[5m]))"}],
            },
            {
                "type": "table",
                "title": "Broken",
                "datasource": CH,
                "targets": [{**target, "rawSql": "SELECT broken"}],
            },
        ],
    }


class Store:
    """A query function over canned answers, recording the SQL it was given."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        self.sql.append(sql)
        if sql == "SELECT 'orgs'":
            return ["org_id"], [["org-a"], ["org-b"]]
        if sql.startswith("SELECT 'campaigns'"):
            return ["campaign_id"], [["gotv"]]
        if sql == "SELECT 'channels'":
            return ["channel"], [["door"], ["text"]]
        if sql.startswith("SELECT race"):
            return race_panel().columns, race_panel().rows
        if sql.startswith("SELECT broken"):
            raise RuntimeError("Code: 47. Unknown identifier broken\nstack...")
        return ["x"], []  # the extras


def test_the_report_runs_the_boards_sql_with_its_variables() -> None:
    store = Store()
    report = build_report(store, [board()], k=K, now=NOW)
    assert (report.org, report.campaign) == ("org-a", "gotv")  # the first options
    race_sql = next(s for s in store.sql if s.startswith("SELECT race"))
    start, end = int((NOW - dt.timedelta(days=7)).timestamp()), int(NOW.timestamp())
    assert race_sql == (
        "SELECT race FROM r WHERE org_id = 'org-a' AND campaign_id = 'gotv' AND channel IN "
        f"('door','text') AND bucket >= toDateTime({start}) AND bucket <= toDateTime({end})"
        " HAVING people_reached >= 0"  # every group: the report suppresses them itself
    )
    reach = next(s for s in report.sections if s.title == "Who we are reaching")
    race = reach.panels[0]
    assert race.units["contact_rate"] == "percentunit" and race.width == 12
    assert race.suppressed.count(None) == 2
    assert reach.panels[1].error == "RuntimeError: Code: 47. Unknown identifier broken"
    assert any("Prometheus" in n and "Ingest rate" in n for n in reach.notes)
    # the story's panels no board has yet come after the goals, from the same store
    titles = [p.title for s in report.sections for p in s.panels]
    assert "Voter-file match rate by tool" in titles
    assert any("FROM match_rate" in s and "org_id = 'org-a'" in s for s in store.sql)


def test_given_org_campaign_and_range_win() -> None:
    store = Store()
    start, end = dt.datetime(2026, 10, 1, tzinfo=dt.UTC), dt.datetime(2026, 10, 8, tzinfo=dt.UTC)
    report = build_report(
        store, [board()], k=K, org="org-b", campaign="c2", time_from=start, time_to=end, now=NOW
    )
    race_sql = next(s for s in store.sql if s.startswith("SELECT race"))
    assert "org_id = 'org-b' AND campaign_id = 'c2'" in race_sql
    assert f"bucket >= toDateTime({int(start.timestamp())})" in race_sql
    assert not any(s == "SELECT 'orgs'" for s in store.sql)
    assert all(s.time_from == start and s.time_to == end for s in report.sections)
    html = render_html(report)
    assert "org-b / c2" in html and "2026-10-01 00:00 UTC" in html


def test_a_range_the_wrong_way_round_is_refused() -> None:
    with pytest.raises(Exception, match="before"):
        build_report(Store(), [board()], k=K, time_from=NOW, time_to=NOW - dt.timedelta(1))


def test_a_given_end_moves_the_boards_default_ranges() -> None:
    end = dt.datetime(2026, 10, 8, tzinfo=dt.UTC)
    report = build_report(Store(), [board()], k=K, time_to=end, now=NOW)
    reach = next(s for s in report.sections if s.title == "Who we are reaching")
    assert (reach.time_from, reach.time_to) == (end - dt.timedelta(days=7), end)


def test_the_png_is_trimmed_to_the_page(tmp_path: Path) -> None:
    from PIL import Image

    from fieldstream.report_png import _trim

    png = tmp_path / "shot.png"
    img = Image.new("RGB", (200, 1000), (244, 245, 247))
    img.paste((31, 58, 95), (0, 0, 200, 120))  # the page's header; the rest is empty window
    img.save(png)
    assert _trim(png) == 136
    with Image.open(png) as out:
        assert out.size == (200, 136)


def test_no_chromium_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldstream.report_png import RenderError, find_chromium

    monkeypatch.setenv("PATH", "")
    with pytest.raises(RenderError, match="apt-get install -y chromium"):
        find_chromium()
