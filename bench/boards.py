"""The boards at a cycle's size: every panel's SQL, one terminal board refresh, one report.

``python -m bench.boards --contacts 10M,50M`` builds a chDB store with the project's own DDL
(sinks/ddl) at each size, generated inside ClickHouse (``INSERT ... SELECT FROM numbers_mt()``):
5M voters over 3,000 precincts, a 2M universe for the main campaign (500k for five others),
three orgs on three zones, six campaigns, twelve weeks of contacts ramping toward the end, and
weekly goals; one contact in 2,000 voided and one in 5,000 folded into a copy (what corrections
and a second path leave), so the panels that read suppressions have some to read.

How the store is built is the path a store with contacts and no keeper mark takes in the sink:
the contacts are stored (the keeper's inbox and the freshness view fed as the sink's inserts
feed them), and the ledger keeper's start-up (sinks/keeper.py) recounts every rollup and board
table from the ledger (sinks/cells.py: each rollup's own view query over the counted
contacts), then builds the coverage groups. The counting views are detached while the contacts
go in: feeding them too would count everything twice, once per block and once in the
recount that replaces it (what the keeper's recount leaves is what the views leave:
``fieldstream verify`` compares the two). Each step is timed.

Then, for the main campaign, every ClickHouse panel of grafana/dashboards (and their variable
queries) is rendered as Grafana renders it (fieldstream.grafana_sql) for a 7-day and a 12-week
range and run three times (median); then one refresh of the terminal board (fieldstream.board,
every campaign) and one ``fieldstream report`` (fieldstream.report). Peak memory is the
process's peak resident size while each ran (chDB runs in this process; /proc/self/clear_refs
resets the peak before each).

``--baseline DIR``: the same, side by side, for the model at another checkout (its
sinks/ddl and grafana/dashboards, e.g. a ``git worktree`` of the commit before this model),
run in a subprocess (chDB takes one data directory per process). Figures print as a table
and go to ``--out`` as JSON.

``--keep`` keeps the stores in ``--data-dir``; ``--build-only --keep`` builds them and
measures nothing (a 50M store takes most of an hour on two cores); ``--reuse`` measures kept
stores again, first migrating them to this checkout's DDL and running one keeper pass, as a
sink started on them would (the build figures are then those of the run that built them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
END = dt.datetime(2026, 11, 2, 21, 0, tzinfo=dt.UTC)  # a Monday evening
DAYS = 84
START = (END - dt.timedelta(days=DAYS)).replace(hour=0)
ORGS = {"o1": "America/New_York", "o2": "America/Chicago", "o3": "America/Los_Angeles"}
OFFSET_H = {"o1": 5, "o2": 6, "o3": 8}  # local field hours -> UTC, near enough for data
CAMPAIGNS = [  # (org, campaign, share of contacts, universe start, universe size)
    ("o1", "gotv", 0.40, 0, 2_000_000),
    ("o1", "persuasion", 0.15, 1_500_000, 500_000),
    ("o2", "gotv", 0.15, 2_000_000, 500_000),
    ("o2", "field", 0.10, 2_500_000, 500_000),
    ("o3", "gotv", 0.15, 3_000_000, 500_000),
    ("o3", "field", 0.05, 3_500_000, 500_000),
]
MAIN = ("o1", "gotv")
RUNS = 3
RACES = "['white','black','latino','asian','native','other','unknown']"
RACE_SOURCES = "['self_reported','vendor_model','bisg','unknown']"
SEXES = "['female','male','other','unknown']"


def human(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def parse_count(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * mult)


# --- peak memory ---------------------------------------------------------------------------


def reset_peak() -> None:
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def measured(out: dict[str, float]) -> Iterator[None]:
    reset_peak()
    t0 = time.perf_counter()
    yield
    out["s"] = time.perf_counter() - t0
    out["peak_mb"] = peak_mb()


# --- the store ----------------------------------------------------------------------------


def voter_attr(v: str) -> dict[str, str]:
    """Voter attributes as functions of the voter number, so contacts need no join."""
    return {
        "precinct": f"concat('P', toString({v} % 3000))",
        "county": f"concat('C', toString(({v} % 3000) % 300))",
        "race": f"{RACES}[cityHash64({v}, 1) % 7 + 1]",
        "race_source": f"{RACE_SOURCES}[cityHash64({v}, 2) % 4 + 1]",
        "ethnicity": f"['hispanic','not_hispanic','unknown'][cityHash64({v}, 3) % 3 + 1]",
        "ethnicity_source": f"{RACE_SOURCES}[cityHash64({v}, 4) % 4 + 1]",
        "sex": f"{SEXES}[cityHash64({v}, 5) % 4 + 1]",
        "age": f"toUInt8(18 + cityHash64({v}, 6) % 70)",
        "lat": f"40 + ({v} % 3000) / 1000",
        "lon": f"-80 + ({v} % 3000) / 1000",
    }


def age_band(age: str) -> str:
    return f"multiIf({age} < 30, '18-29', {age} < 45, '30-44', {age} < 65, '45-64', '65+')"


def build_voters(client: Any, n: int) -> None:
    a = voter_attr("number")
    client.command(
        "INSERT INTO voters (voter_id, state, county, precinct, congressional_district, "
        "state_senate_district, state_house_district, birth_year, age, age_band, sex, race, "
        "race_source, race_probability, ethnicity, ethnicity_source, ethnicity_probability, "
        "precinct_lat, precinct_lon, updated_at) "
        f"SELECT concat('V', toString(number)), 'ZZ', {a['county']}, {a['precinct']}, "
        "concat('CD', toString(number % 12)), concat('SD', toString(number % 40)), "
        f"concat('HD', toString(number % 100)), toUInt16(2026 - {a['age']}), {a['age']}, "
        f"{age_band(a['age'])}, {a['sex']}, {a['race']}, {a['race_source']}, NULL, "
        f"{a['ethnicity']}, {a['ethnicity_source']}, NULL, {a['lat']}, {a['lon']}, "
        f"toDateTime64('2026-08-01 00:00:00', 3, 'UTC') FROM numbers({n})"
    )


def build_universes(client: Any) -> None:
    for org, campaign, _share, start, size in CAMPAIGNS:
        client.command(
            "INSERT INTO universes (org_id, campaign_id, state, voter_id, turf_id, load_id, "
            f"loaded_at) SELECT '{org}', '{campaign}', 'ZZ', concat('V', toString(number)), "
            "concat('T', toString(number % 3000 % 400)), 'bench-load', "
            f"toDateTime64('2026-08-01 00:00:00', 3, 'UTC') FROM numbers({start}, {size})"
        )


def build_goals(client: Any) -> None:
    rows = []
    monday = (START + dt.timedelta(days=(7 - START.weekday()) % 7)).date()
    for org, campaign, share, *_ in CAMPAIGNS:
        for w in range(13):
            week = monday + dt.timedelta(days=7 * w)
            for metric, ratio in (
                ("attempts", 1.0),
                ("contacts", 0.25),
                ("ids", 0.15),
                ("people_reached", 0.2),
            ):
                rows.append([org, campaign, week, metric, int(200_000 * share * ratio), END])
    client.insert(
        "goals",
        rows,
        column_names=["org_id", "campaign_id", "week_start", "metric", "target", "loaded_at"],
    )


def contacts_select(first: int, count: int, voters: int) -> str:
    """``count`` generated contacts numbered from ``first``."""
    weights, acc = [], 0
    for *_, share, _s, _z in [(c[0], c[1], c[2], c[3], c[4]) for c in CAMPAIGNS]:
        acc += int(share * 1000)
        weights.append(acc)
    pick = "multiIf(" + ", ".join(f"h < {w}, {i}" for i, w in enumerate(weights[:-1])) + ", 5)"
    org = "['o1','o1','o2','o2','o3','o3'][ci + 1]"
    campaign = "[" + ",".join(f"'{c[1]}'" for c in CAMPAIGNS) + "][ci + 1]"
    ustart = "[" + ",".join(str(c[3]) for c in CAMPAIGNS) + "][ci + 1]"
    usize = "[" + ",".join(str(c[4]) for c in CAMPAIGNS) + "][ci + 1]"
    offset = "[" + ",".join(str(OFFSET_H[c[0]]) for c in CAMPAIGNS) + "][ci + 1]"
    zones = ", ".join(
        f"org_id = '{o}', toDate(occurred_at, '{z}')" for o, z in list(ORGS.items())[:-1]
    )
    last_zone = list(ORGS.values())[-1]
    tz = ", ".join(f"org_id = '{o}', '{z}'" for o, z in list(ORGS.items())[:-1])
    a = voter_attr("v")
    base = (
        "SELECT number AS n, cityHash64(number) % 1000 AS h, "
        f"{pick} AS ci, toUInt32(floor({DAYS} * sqrt((cityHash64(number, 7) % 1000000) / 1e6))) "
        "AS day_index, "
        f"if(cityHash64(number, 8) % 100 < 85, {ustart} + cityHash64(number, 9) % {usize}, "
        f"cityHash64(number, 10) % {voters}) AS v, cityHash64(number, 11) % 100 AS ch, "
        "cityHash64(number, 12) % 100 AS res "
        f"FROM numbers_mt({first}, {count})"
    )
    channel = "multiIf(ch < 40, 'door', ch < 70, 'phone', 'text')"
    result = (
        "multiIf(channel = 'door', multiIf(res < 30, 'canvassed', res < 85, 'not_home', "
        "res < 95, 'refused', 'moved'), channel = 'phone', multiIf(res < 25, 'canvassed', "
        "res < 60, 'busy', res < 85, 'left_message', 'wrong_number'), "
        "multiIf(res < 15, 'canvassed', res < 95, 'texted', 'do_not_text'))"
    )
    level = "toUInt8(1 + cityHash64(n, 13) % 5)"
    return (
        "SELECT toString(generateUUIDv4(n)) AS event_id, "
        "multiIf(channel = 'text', 'spoke', channel = 'phone', 'callhub', ch % 2 = 0, 'van', "
        "'canvass-app') AS source_system, toString(n) AS source_event_id, "
        f"{org} AS org_id, {campaign} AS campaign_id, '' AS program_id, {channel} AS channel, "
        "'other' AS contact_type, 'mobile_app' AS input_method, "
        f"toDateTime64('{START:%Y-%m-%d %H:%M:%S}', 3, 'UTC') + toIntervalSecond("
        f"day_index * 86400 + (9 + cityHash64(n, 14) % 12 + {offset}) * 3600 + "
        "cityHash64(n, 15) % 3600) AS occurred_at, occurred_at AS received_at, "
        "occurred_at AS enriched_at, 'ZZ' AS state, "
        "if(cityHash64(n, 16) % 100 < 3, '', concat('V', toString(v))) AS voter_id, "
        "toString(100000 + v) AS van_id, '' AS state_file_id, '' AS vendor_id, "
        "concat('cv', toString(cityHash64(n, 17) % 2000)) AS canvasser_id, "
        "concat('team', toString(cityHash64(n, 17) % 2000 % 50)) AS team_id, "
        "concat('T', toString(v % 3000 % 400)) AS turf_id, '' AS list_id, "
        f"{result} AS result, result AS result_raw, toUInt8(result = 'canvassed') AS is_contact, "
        "toUInt8(is_contact = 1 AND cityHash64(n, 18) % 100 < 60) AS has_id, "
        f"if(has_id = 1, {level}, NULL) AS support_level, "
        "if(has_id = 1, ['support'], []) AS `responses.question_id`, "
        "if(has_id = 1, ['x'], []) AS `responses.answer`, "
        "if(has_id = 1, [support_level], []) AS `responses.support_level`, "
        "[] AS activist_codes, toUInt8(result = 'do_not_text') AS opt_out, "
        "if(is_contact = 1, toUInt8(cityHash64(n, 19) % 100 < 70), NULL) AS script_completed, "
        "toUInt8(voter_id != '') AS voter_matched, "
        f"if(voter_matched = 1, {a['county']}, 'unknown') AS county, "
        f"if(voter_matched = 1, {a['precinct']}, 'unknown') AS precinct, "
        "concat('CD', toString(v % 12)) AS congressional_district, "
        "concat('SD', toString(v % 40)) AS state_senate_district, "
        "concat('HD', toString(v % 100)) AS state_house_district, "
        f"if(voter_matched = 1, {a['age']}, NULL) AS age, "
        f"if(voter_matched = 1, {age_band(a['age'])}, 'unknown') AS age_band, "
        f"if(voter_matched = 1, {a['sex']}, 'unknown') AS sex, "
        f"if(voter_matched = 1, {a['race']}, 'unknown') AS race, "
        f"if(voter_matched = 1, {a['race_source']}, 'unknown') AS race_source, "
        "NULL AS race_probability, "
        f"if(voter_matched = 1, {a['ethnicity']}, 'unknown') AS ethnicity, "
        f"if(voter_matched = 1, {a['ethnicity_source']}, 'unknown') AS ethnicity_source, "
        "NULL AS ethnicity_probability, "
        f"if(voter_matched = 1, {a['lat']}, NULL) AS precinct_lat, "
        f"if(voter_matched = 1, {a['lon']}, NULL) AS precinct_lon, "
        f"multiIf({tz}, '{last_zone}') AS tz, "
        f"multiIf({zones}, toDate(occurred_at, '{last_zone}')) AS local_day, '' AS import_run "
        f"FROM ({base})"
    )


COLUMNS_BASELINE_LACKS = ("tz", "local_day", "import_run")


def counting_views(client: Any, model: str) -> list[str]:
    """The materialized views the keeper's start-up recounts (none for a baseline model,
    whose boards read the views' targets and has no keeper)."""
    if model != "this":
        return []
    from sinks.cells import materialized_views
    from sinks.store import LockedStore

    return [view.name for view in materialized_views(LockedStore(client))]


def build_suppressions(client: Any) -> None:
    """Voids and folds, as corrections and a second path leave them (before the keeper's
    recount, which leaves them out of every count)."""
    kinds = (("void", 2000, "'bench-correction'"), ("fold", 5000, "concat('kept-', event_id)"))
    for kind, every, ref in kinds:
        client.command(
            "INSERT INTO contact_suppressions (org_id, campaign_id, event_id, kind, active, ref, "
            f"reason, requested_by, version) SELECT org_id, campaign_id, event_id, '{kind}', 1, "
            f"{ref}, 'bench', 'bench', 1 FROM contact_events "
            f"WHERE cityHash64(event_id) % {every} = 1",
            settings={"max_insert_threads": 2},
        )


def build_contacts(client: Any, total: int, voters: int, chunk: int, model: str) -> None:
    columns = [
        str(r[0])
        for r in client.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'contact_events' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') "
            "AND name != 'inserted_at' ORDER BY position"
        ).result_rows
    ]
    # the columns the generator makes (later columns with defaults, e.g. stored_by or the
    # quality evidence, keep their defaults)
    made = {
        str(r[0]) for r in client.query(f"DESCRIBE ({contacts_select(0, 1, voters)})").result_rows
    }
    names = ", ".join(f"`{c}`" for c in columns if c in made)
    detached = counting_views(client, model)
    for view in detached:
        client.command(f"DETACH TABLE {view}")
    try:
        done = 0
        while done < total:
            count = min(chunk, total - done)
            select = contacts_select(done, count, voters)
            client.command(
                f"INSERT INTO contact_events ({names}) SELECT {names} FROM ({select})",
                settings={"max_insert_threads": 2, "async_insert": 0},
            )
            done += count
            print(f"  {model}: {human(done)} contacts stored", file=sys.stderr, flush=True)
    finally:
        for view in detached:
            client.command(f"ATTACH TABLE {view}")


def build(store_dir: Path, contacts: int, voters: int, model: str, chunk: int) -> dict[str, Any]:
    """The store at this size; returns how long each step took."""
    from sinks.migrate import migrate
    from sinks.store import LockedStore, open_store

    figures: dict[str, Any] = {}
    client = open_store(f"chdb://{store_dir}")
    migrate(client)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("voters", lambda: build_voters(client, voters)),
        ("universes", lambda: build_universes(client)),
        ("goals", lambda: build_goals(client)),
        ("contacts", lambda: build_contacts(client, contacts, voters, chunk, model)),
    ]
    if model == "this":
        steps.append(("voids and folds", lambda: build_suppressions(client)))
    for name, step in steps:
        out: dict[str, float] = {}
        with measured(out):
            step()
        figures[f"build {name}"] = out
        print(f"  {model}: built {name} in {out['s']:.0f}s", file=sys.stderr, flush=True)
    if model == "this":
        keeper = bench_keeper(LockedStore(client))
        out = {}
        with measured(out):
            keeper.start_up()  # no mark yet: every rollup and board table from the ledger
        figures["keeper: every rollup and board table from the ledger"] = out
        print(f"  {model}: keeper start-up in {out['s']:.0f}s", file=sys.stderr, flush=True)
        out = {}
        with measured(out):
            keeper.universes_at = 0.0
            keeper.last_forecast = 0.0
            keeper.run_pass(END)  # coverage groups, forecasts
        figures["keeper: coverage groups and forecasts"] = out
        client.command("TRUNCATE TABLE contact_inbox")
        out = {}
        with measured(out):
            keeper.run_pass(END)
        figures["keeper: a pass with nothing new"] = out
    client.close()
    return figures


def bench_keeper(store: Any) -> Any:
    """The ledger keeper of the bench's programs (org zones as ORGS)."""
    from core.config import Programs
    from sinks.keeper import Keeper
    from sinks.zones import ProgramClock

    programs = Programs(
        {o: frozenset(c for oo, c, *_ in CAMPAIGNS if oo == o) for o in ORGS},
        org_zones=dict(ORGS),
    )
    return Keeper(store, ProgramClock(programs=programs), overlap_s=0)


def upgrade(store_dir: Path, model: str) -> None:
    """A kept store brought to this checkout's DDL, and one keeper pass over it, as a sink
    started on it would (``--reuse``)."""
    from sinks.migrate import migrate
    from sinks.store import LockedStore, open_store

    client = open_store(f"chdb://{store_dir}")
    migrate(client)
    if model == "this":
        keeper = bench_keeper(LockedStore(client))
        keeper.start_up()
        keeper.universes_at = 0.0
        keeper.last_forecast = 0.0
        keeper.run_pass(END)
    client.close()


# --- the measurements ---------------------------------------------------------------------


def run_panels(
    query: Callable[[str], Any], dashboards: Path, values: dict[str, Any]
) -> dict[str, dict[str, float]]:
    from fieldstream import grafana_sql as gs

    ranges = {"7d": END - dt.timedelta(days=7), "12w": END - dt.timedelta(weeks=12)}
    out: dict[str, dict[str, float]] = {}
    for board in gs.load_dashboards(dashboards):
        names = gs.variable_names(board)
        qs = [q for q in gs.panel_queries(board) + gs.variable_queries(board) if q.is_clickhouse]
        for q in qs:
            label = f"{board.get('uid')}: {q.panel_title}"
            out[label] = {}
            for span, start in ranges.items():
                sql = gs.render_sql(q.raw_sql, {k: v for k, v in values.items() if k in names},
                                    start, END)  # fmt: skip
                times, peaks = [], []
                for _ in range(RUNS):
                    m: dict[str, float] = {}
                    try:
                        with measured(m):
                            query(sql)
                    except Exception as exc:  # a figure, not a crash: name it
                        out[label][f"{span} error"] = 1
                        print(f"  {label} {span}: {exc}"[:300], file=sys.stderr)
                        break
                    times.append(m["s"])
                    peaks.append(m["peak_mb"])
                if times:
                    out[label][span] = statistics.median(times)
                    out[label][f"{span} peak_mb"] = max(peaks)
    return out


def measure(store_dir: Path, dashboards: Path) -> dict[str, Any]:
    from fieldstream.board import PanelSource, fetch_snapshot
    from fieldstream.grafana_sql import load_dashboards
    from fieldstream.report import write_report
    from sinks.remote import DirectAccess
    from sinks.store import LockedStore, open_store

    store = LockedStore(open_store(f"chdb://{store_dir}"))
    access = DirectAccess(store)
    tz = ORGS[MAIN[0]]
    values = {
        "org": MAIN[0],
        "campaign": MAIN[1],
        "tz": tz,
        "channel": ["door", "phone", "text"],
        "race_source": ["bisg", "self_reported", "unknown", "vendor_model"],
        "min_group_size": "11",
    }
    figures: dict[str, Any] = {"panels": run_panels(access.query, dashboards, values)}
    boards = load_dashboards(dashboards)
    source = PanelSource(boards)
    first: dict[str, float] = {}
    with measured(first):
        snap = fetch_snapshot(store.query, END, source)
    later: dict[str, float] = {}
    with measured(later):
        snap = fetch_snapshot(store.query, END + dt.timedelta(seconds=2), source)
    figures["board: first refresh (variables too)"] = first
    figures["board: refresh"] = later
    figures["board errors"] = snap.errors
    report: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, measured(report):
        written = write_report(
            access.query, Path(tmp) / "r.html", k=11, org=MAIN[0], campaign=MAIN[1],
            dashboards=dashboards, now=END,
        )  # fmt: skip
    figures["report"] = report
    figures["report errors"] = [
        f"{p.title}: {p.error}" for s in written.sections for p in s.panels if p.error
    ]
    store.close()
    return figures


def one(args: argparse.Namespace) -> dict[str, Any]:
    """Build and measure one store (this process: chDB holds one directory)."""
    store_dir = Path(args.data_dir) / f"{args.model}-{human(args.contacts)}"
    if store_dir.exists() and not args.reuse:
        shutil.rmtree(store_dir)
    if store_dir.exists():
        built: dict[str, Any] = {}
        upgrade(store_dir, args.model)
    else:
        built = build(store_dir, args.contacts, args.voters, args.model, args.chunk)
    if args.build_only:
        return {"build": built}
    measured_ = measure(store_dir, Path(args.dashboards))
    if not args.keep:
        shutil.rmtree(store_dir, ignore_errors=True)
    return {"build": built, **measured_}


def child(model: str, contacts: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """``one`` in a subprocess that imports the code at ``root`` (this file runs there as a
    script, so a baseline checkout needs no copy of it)."""
    out = Path(args.data_dir) / f"{model}-{human(contacts)}.json"
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--one", "--model", model,
        "--contacts", str(contacts), "--voters", str(args.voters), "--chunk", str(args.chunk),
        "--data-dir", str(args.data_dir), "--dashboards", str(root / "grafana" / "dashboards"),
        "--json", str(out), *(["--keep"] if args.keep else []),
        *(["--reuse"] if args.reuse else []), *(["--build-only"] if args.build_only else []),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run(cmd, cwd=root, env=env, check=True)
    return dict(json.loads(out.read_text()))


def table(results: dict[str, dict[str, Any]]) -> Iterator[str]:
    """Panel timings side by side: model x size, 7 days and 12 weeks, seconds."""
    keys = sorted(results)
    panels = sorted({p for r in results.values() for p in r["panels"]})
    yield "panel".ljust(70) + "".join(f"{k:>22}" for k in keys)
    yield " " * 70 + "".join(f"{'7d / 12w (s)':>22}" for _ in keys)
    for p in panels:
        cells = []
        for k in keys:
            f = results[k]["panels"].get(p, {})
            cells.append(f"{_s(f.get('7d'))} / {_s(f.get('12w'))}".rjust(22))
        yield p[:69].ljust(70) + "".join(cells)
    for name in ("board: first refresh (variables too)", "board: refresh", "report"):
        yield name.ljust(70) + "".join(
            f"{_s(results[k][name]['s'])} ({results[k][name]['peak_mb']:.0f} MB)".rjust(22)
            for k in keys
        )
    worst = {
        k: max(
            (f.get(s, 0.0) for f in results[k]["panels"].values() for s in ("7d", "12w")),
            default=0.0,
        )
        for k in keys
    }
    yield "slowest panel".ljust(70) + "".join(f"{_s(worst[k])}".rjust(22) for k in keys)
    spans = ("7d peak_mb", "12w peak_mb")
    peak = {
        k: max((f.get(s, 0.0) for f in results[k]["panels"].values() for s in spans), default=0.0)
        for k in keys
    }
    yield "peak memory of a panel (process RSS, MB)".ljust(70) + "".join(
        f"{peak[k]:.0f}".rjust(22) for k in keys
    )
    yield from built_lines(results)


def built_lines(results: dict[str, dict[str, Any]]) -> Iterator[str]:
    for k in sorted(results):
        for step, f in results[k].get("build", {}).items():
            yield f"  {k} {step}: {f['s']:.0f}s, peak {f['peak_mb']:.0f} MB"


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", default="10M,50M", help="sizes, e.g. 10M,50M")
    parser.add_argument("--voters", type=parse_count, default=5_000_000)
    parser.add_argument("--chunk", type=parse_count, default=2_000_000)
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "bench-boards"))
    parser.add_argument("--dashboards", default=str(REPO / "grafana" / "dashboards"))
    parser.add_argument("--baseline", help="a checkout of the model to compare against")
    parser.add_argument("--out", default="bench-boards.json")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--reuse", action="store_true", help="measure kept stores again")
    parser.add_argument(
        "--build-only", action="store_true", help="build the stores (with --keep), measure later"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="this", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    if args.one:
        args.contacts = parse_count(str(args.contacts))
        Path(args.json).write_text(json.dumps(one(args), default=str))
        return 0
    results: dict[str, dict[str, Any]] = {}
    for size in (parse_count(s) for s in args.contacts.split(",")):
        results[f"this {human(size)}"] = child("this", size, args, REPO)
        if args.baseline:
            results[f"baseline {human(size)}"] = child("baseline", size, args, Path(args.baseline))
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    lines = built_lines(results) if args.build_only else table(results)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
