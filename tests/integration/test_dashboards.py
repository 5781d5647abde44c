"""Every Grafana board, checked and run: structure, then each panel's SQL on chDB with demo data.

The demo (producers/demo/state.py) gives the voter file, goals and universes; the simulator
(producers/demo/simulator.py) gives ten days of field traffic, retries and bad events included.
Each event takes the real path: ContactJson (the gateway's conversion), process_batch (the
stream: dedupe, validate, enrich from the voter directory), contact_row / dead_letter_row (the
sink). Every ClickHouse panel is rendered with fixed variables and time range by
fieldstream.grafana_sql (as the plugin would) and must return the columns it declares; the
numbers of the goal, race, turf and script panels must equal a recount made here from the
same rows. Prometheus panels may only name metrics the services declare.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from fieldstream import grafana_sql as gs
from fieldstream.grafana_sql import CLICKHOUSE_TYPE, PROMETHEUS_TYPE, PanelQuery
from sinks import rows as sr
from tests.factories.boards import (
    CAMPAIGN,
    INTERVAL,
    ORG,
    TIME_FROM,
    TIME_TO,
    Demo,
    K,
    Row,
    build,
    local,
    measures,
    monday,
    scoped,
    writeback_states,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BOARDS = ROOT / "grafana" / "dashboards"
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources"
UIDS = {CLICKHOUSE_TYPE: "clickhouse", PROMETHEUS_TYPE: "prometheus"}
METRIC_MODULES = (
    "producers/gateway/metrics.py",
    "streams/metrics.py",
    "sinks/metrics.py",
    "sinks/keeper.py",
    "sinks/writeback/metrics.py",
)
PANEL_TYPES = {"bargauge", "table", "timeseries", "barchart", "geomap", "stat", "piechart"}

VARIABLES: dict[str, str | list[str]] = {
    "org": ORG,
    "campaign": CAMPAIGN,
    "tz": "America/New_York",  # the demo's programs.yaml names no zone: the default
    "channel": ["door", "phone", "text"],
    "race_source": ["bisg", "self_reported", "unknown", "vendor_model"],
    "min_group_size": str(K),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    built = build(tmp_path_factory.mktemp("boards"))
    try:
        yield built
    finally:
        built.store.close()


@pytest.fixture(scope="module")
def boards() -> list[dict[str, Any]]:
    found = gs.load_dashboards(BOARDS)
    assert len(found) >= 5
    return found


def provisioned_uids() -> dict[str, str]:
    """Datasource type -> uid from grafana/provisioning/datasources, else the constants."""
    uids = {}
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        for ds in yaml.safe_load(path.read_text()).get("datasources", []):
            uids[ds["type"]] = ds["uid"]
    return uids or UIDS


# --- structure ------------------------------------------------------------------------------


def test_structure(boards: list[dict[str, Any]]) -> None:
    uids = provisioned_uids()
    assert {b["uid"] for b in boards} == {b["uid"] for b in boards if b["uid"]}
    assert len({b["uid"] for b in boards}) == len(boards)
    for board in boards:
        assert board["schemaVersion"] >= 39, board["title"]
        ids = [p["id"] for p in gs.panels(board)]
        assert len(ids) == len(set(ids)), board["title"]
        defined = gs.variable_names(board)
        for q in gs.panel_queries(board) + gs.variable_queries(board):
            where = f"{board['title']} / {q.panel_title}"
            assert q.datasource_uid == uids[q.datasource_type], where
            assert q.raw_sql.strip(), where
            assert gs.used_variables(q.raw_sql) <= defined, where
            if q.is_clickhouse:
                assert q.query_type in gs.FORMATS and q.format == gs.FORMATS[q.query_type], where
            if q.panel_type == "variable":
                continue
            assert q.panel_type in PANEL_TYPES, where
            if q.is_clickhouse:
                assert q.expected_columns, where
                assert (q.query_type == "timeseries") == (q.panel_type == "timeseries"), where
                if q.query_type == "timeseries":
                    assert q.expected_columns[0] == "time", where
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                assert var["datasource"]["uid"] == uids[var["datasource"]["type"]]


# --- every ClickHouse panel runs and returns its columns ----------------------------------


def run(demo: Demo, q: PanelQuery, **values: str | list[str]) -> list[Row]:
    sql = gs.render_sql(q.raw_sql, {**VARIABLES, **values}, TIME_FROM, TIME_TO, interval=INTERVAL)
    columns, _types, rows = demo.store.query(sql)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def clickhouse_queries(boards: list[dict[str, Any]]) -> list[PanelQuery]:
    return [
        q for b in boards for q in gs.panel_queries(b) + gs.variable_queries(b) if q.is_clickhouse
    ]


def test_every_panel_returns_its_columns(demo: Demo, boards: list[dict[str, Any]]) -> None:
    for q in clickhouse_queries(boards):
        where = f"{q.dashboard} / {q.panel_title}"
        sql = gs.render_sql(q.raw_sql, VARIABLES, TIME_FROM, TIME_TO, interval=INTERVAL)
        assert "$" not in sql, where
        columns, _types, rows = demo.store.query(sql)
        assert rows, f"{where} returned no rows on the demo data"
        if q.panel_type == "variable":
            continue
        assert tuple(columns) == q.expected_columns, where
        if q.query_type == "timeseries":  # long-to-wide needs ascending time
            times = [r[0] for r in rows]
            assert times == sorted(times), where


def panel(boards: list[dict[str, Any]], uid: str, title: str) -> PanelQuery:
    board = next(b for b in boards if b["uid"] == uid)
    return next(q for q in gs.panel_queries(board) if q.panel_title == title)


# --- recounts -------------------------------------------------------------------------------


def test_goal_progress_equals_a_recount(demo: Demo, boards: list[dict[str, Any]]) -> None:
    by_week: dict[dt.date, list[Row]] = defaultdict(list)
    for e in scoped(demo):
        by_week[monday(e["local_day"])].append(e)
    zone = ZoneInfo(demo.zone)
    this_week = monday(TIME_TO, demo.zone)
    start = dt.datetime.combine(this_week, dt.time(), zone)
    end = dt.datetime.combine(this_week + dt.timedelta(7), dt.time(), zone)
    share = min(max((TIME_TO - start) / (end - start), 0), 1)
    want = {}
    for g in demo.goals:
        week = dt.date.fromisoformat(g["week"])
        if (g["org_id"], g["campaign_id"]) == (ORG, CAMPAIGN) and monday(
            TIME_FROM, demo.zone
        ) <= week <= local(TIME_TO, demo.zone):
            want[(week, g["metric"])] = (int(g["target"]), measures(by_week[week])[g["metric"]])
    got = run(demo, panel(boards, "fs-progress", "Goals by week"))
    assert {(r["week_start"], r["metric"]): (r["target"], r["actual"]) for r in got} == want
    assert len({w for w, _ in want}) == 2 and all(a > 0 for _, a in want.values())

    current = run(demo, panel(boards, "fs-progress", "This week: goals, actuals and pace"))
    assert {r["metric"]: (r["target"], r["actual"]) for r in current} == {
        m: v for (w, m), v in want.items() if w == this_week
    }
    for r in current:
        assert r["pace"] == pytest.approx(r["target"] * share, abs=1)
        assert r["ahead_of_pace"] == r["actual"] - r["pace"]
    bars = run(
        demo,
        panel(
            boards,
            "fs-progress",
            "This week: share of each goal done, and where we should be by now",
        ),
    )
    for r in bars:
        target, actual = want[(this_week, r["metric"])]
        assert r["done_pct"] == pytest.approx(100 * actual / target, abs=0.051)
        assert r["pace_pct"] == pytest.approx(100 * share, abs=0.051)


# --- Prometheus panels name metrics the services declare ---------------------------------------


def declared_metrics() -> dict[str, set[str]]:
    """Exposed series name -> label names, from the Counter/Gauge/Histogram declarations."""
    out: dict[str, set[str]] = {}
    for module in METRIC_MODULES:
        for node in ast.walk(ast.parse((ROOT / module).read_text())):
            # declared as core.metrics.Metrics does: self.counter("name", "doc", [labels])
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            kind = node.func.attr.capitalize()
            if kind not in ("Counter", "Gauge", "Histogram") or not node.args:
                continue
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str)
            labels: set[str] = set()
            label_at = 3 if kind == "Histogram" else 2  # histogram(name, doc, buckets, labels)
            label_arg = node.args[label_at] if len(node.args) > label_at else None
            for kw in node.keywords:
                if kw.arg == "labels":
                    label_arg = kw.value
            if isinstance(label_arg, ast.List | ast.Tuple):
                labels = {str(e.value) for e in label_arg.elts if isinstance(e, ast.Constant)}
            name = first.value.removesuffix("_total") if kind == "Counter" else first.value
            suffixes = {
                "Counter": ("_total", "_created"),
                "Gauge": ("",),
                "Histogram": ("_bucket", "_sum", "_count", "_created"),
                "Summary": ("", "_sum", "_count", "_created"),
            }[kind]
            for s in suffixes:
                out[name + s] = labels | ({"le"} if s == "_bucket" else set())
    return out


def test_prometheus_panels_use_declared_metrics(boards: list[dict[str, Any]]) -> None:
    declared = declared_metrics()
    assert "fieldstream_stream_dlq_total" in declared
    exprs = [q for b in boards for q in gs.panel_queries(b) if q.datasource_type == PROMETHEUS_TYPE]
    assert exprs
    for q in exprs:
        names = set(re.findall(r"\bfieldstream_\w+", q.raw_sql))
        assert names, q.panel_title
        assert names <= set(declared), (q.panel_title, names - set(declared))
        labels = set().union(*(declared[n] for n in names)) | {"job", "instance"}
        grouped = re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", q.raw_sql)
        used = {lab.strip() for g in grouped for lab in g.split(",") if lab.strip()}
        assert used <= labels, (q.panel_title, used - labels)


def in_range(e: Row) -> bool:
    """Whether the five-minute bucket of the event is in the boards' time range."""
    t = e["occurred_at"]
    bucket = t.replace(minute=t.minute // 5 * 5, second=0, microsecond=0)
    return TIME_FROM <= bucket <= TIME_TO


def in_days(e: Row, zone: str) -> bool:
    """Whether the event's local day is one the boards' time range touches."""
    return local(TIME_FROM, zone) <= e["local_day"] <= local(TIME_TO, zone)


def grouped(events: list[Row], *keys: str) -> dict[tuple[Any, ...], dict[str, int]]:
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for e in events:
        groups[tuple(e[k] for k in keys)].append(e)
    return {k: measures(v) for k, v in groups.items()}


def test_reach_by_race_equals_a_recount_and_hides_small_groups(
    demo: Demo, boards: list[dict[str, Any]]
) -> None:
    q = panel(boards, "fs-reach", "By race, with the source of race")
    days = [e for e in scoped(demo) if in_days(e, demo.zone)]
    want = grouped(days, "race", "race_source")
    names = ("attempts", "contacts", "ids", "people_reached")
    shown = {k: tuple(v[n] for n in names) for k, v in want.items() if v["people_reached"] >= K}
    hidden = {k for k, v in want.items() if v["people_reached"] < K}
    got = {(r["race"], r["race_source"]): tuple(r[n] for n in names) for r in run(demo, q)}
    assert got == shown
    assert hidden and len(shown) >= 5  # the demo has small groups, and many large ones
    assert {s for _, s in shown} >= {"self_reported", "vendor_model", "bisg", "unknown"}
    everyone = run(demo, q, min_group_size="1")  # every group with someone reached
    assert len(everyone) == sum(1 for v in want.values() if v["people_reached"] >= 1)
    # one channel: a multi-value variable with one value
    door = run(demo, q, channel=["door"])
    want_door = grouped([e for e in days if e["channel"] == "door"], "race", "race_source")
    assert {(r["race"], r["race_source"]): r["attempts"] for r in door} == {
        k: v["attempts"] for k, v in want_door.items() if v["people_reached"] >= K
    }
    # the board filters by the source of race: BISG estimates alone, never mixed in silently
    bisg = run(demo, q, race_source=["bisg"])
    assert bisg and {r["race_source"] for r in bisg} == {"bisg"}
    assert {(r["race"], r["race_source"]): tuple(r[n] for n in names) for r in bisg} == {
        k: v for k, v in shown.items() if k[1] == "bisg"
    }


def test_coverage_by_turf_equals_a_recount(demo: Demo, boards: list[dict[str, Any]]) -> None:
    members = demo.universe[(ORG, CAMPAIGN)]
    attempted = {(e["state"], e["voter_id"]) for e in scoped(demo) if e["voter_id"]}
    contacted = {(e["state"], e["voter_id"]) for e in scoped(demo) if e["is_contact"]}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for voter, turf in members.items():
        c = counts[turf or "none"]
        c[0] += 1
        c[1] += voter in attempted
        c[2] += voter in contacted
    want = {t: tuple(c) for t, c in counts.items() if c[0] >= K}
    rows = run(demo, panel(boards, "fs-coverage", "Coverage by turf"))
    got = {r["turf"]: (r["universe"], r["attempted"], r["contacted"]) for r in rows}
    assert got == want and len(got) >= 20
    for r in rows:
        assert r["attempted_share"] == pytest.approx(r["attempted"] / r["universe"], abs=5e-4)
    shares = [r["attempted_share"] for r in rows]
    assert shares == sorted(shares)  # least covered first
    total = run(demo, panel(boards, "fs-coverage", "Universe covered"))
    assert [(r["universe"], r["attempted"], r["contacted"]) for r in total] == [
        (len(members), len(attempted & set(members)), len(contacted & set(members)))
    ]
    geo = run(demo, panel(boards, "fs-coverage", "Coverage by precinct"))
    assert sum(r["universe"] for r in geo) == sum(c[0] for c in counts.values())
    assert all(-90 <= r["latitude"] <= 90 and -180 <= r["longitude"] <= 180 for r in geo)


def test_script_completion_equals_a_recount(demo: Demo, boards: list[dict[str, Any]]) -> None:
    want = grouped([e for e in scoped(demo) if in_range(e)], "channel")
    rows = run(demo, panel(boards, "fs-scripts", "Script completion by channel, whole range"))
    got = {r["channel"]: (r["contacts"], r["scripts_known"], r["scripts_completed"]) for r in rows}
    assert got == {
        k[0]: (v["contacts"], v["scripts_known"], v["scripts_completed"]) for k, v in want.items()
    }
    for r in rows:
        assert r["completion"] == pytest.approx(
            r["scripts_completed"] / r["scripts_known"], abs=5e-4
        )
    # the series over time add up to the same completed scripts (hourly buckets, by channel)
    series = run(demo, panel(boards, "fs-scripts", "IDs collected by channel"))
    ids: dict[str, int] = defaultdict(int)
    for r in series:
        ids[r["channel"]] += r["ids"]
    assert ids == {k[0]: v["ids"] for k, v in want.items()}


# --- volunteer shifts: a recount, and never contacts ------------------------------------------


def test_shift_panels_equal_a_recount(demo: Demo, boards: list[dict[str, Any]]) -> None:
    latest: dict[str, Row] = {}
    for s in demo.shifts:
        key = s["shift_id"]
        if key not in latest or (s["status_at"], s["received_at"]) > (
            latest[key]["status_at"],
            latest[key]["received_at"],
        ):
            latest[key] = s
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in latest.values():
        day = (s["shift_start"] or s["status_at"]).date()
        if not TIME_FROM.date() <= day <= TIME_TO.date():
            continue
        c = counts[s["event_type"]]
        c["scheduled"] += s["status"] != "cancelled"
        c[s["status"]] += 1
    got = run(demo, panel(boards, "fs-shifts", "Shifts by event type"))
    assert {
        r["event_type"]: (r["scheduled"], r["attended"], r["no_shows"], r["cancelled"]) for r in got
    } == {
        t: (c["scheduled"], c["attended"], c["no_show"], c["cancelled"]) for t, c in counts.items()
    }
    for r in got:
        c = counts[r["event_type"]]
        known = c["attended"] + c["no_show"]
        assert r["flake_rate"] == pytest.approx(c["no_show"] / known, abs=0.0006)
    assert sum(c["no_show"] for c in counts.values()) > 0
    # shifts are never contacts: no contact row comes from the shift tool
    assert not [e for e in demo.events if e["source_system"] == "mobilize"]


def test_in_van_equals_a_recount_of_the_write_back_states(
    demo: Demo, boards: list[dict[str, Any]]
) -> None:
    [q] = [q for b in boards for q in gs.panel_queries(b) if q.panel_title.startswith("In VAN")]
    got = {r["source"]: (r["in_van"], r["contacts"], r["uncertain"]) for r in run(demo, q)}
    states = writeback_states([[e[c] for c in sr.CONTACT_COLUMNS] for e in demo.events])
    want: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    seen: set[str] = set()
    for event_id, org, source, campaign, state, *_ in states:
        if (org, campaign) != (ORG, CAMPAIGN) or event_id in seen:
            continue
        seen.add(event_id)
        want[source][0] += state == "posted"
        want[source][1] += 1
        want[source][2] += state == "uncertain"
    assert got == {s: tuple(v) for s, v in want.items()} and got
