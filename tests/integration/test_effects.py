"""Holdouts and effects on real chDB: a synthetic program with a planted effect, end to end.

Voters are loaded, the universe goes in with a stratified holdout (the loader's draw), the
program is carried out against that holdout (contacts and a few breaches as contact_events),
vote history for the election after the program and one before it is loaded, and then:
the draw is balanced and reproducible, the views' estimates equal fieldstream.effects.estimate
on the same voters, breaches are counted, the targeted list leaves held-out voters out, and the
report's post-election section shows the effects with small groups suppressed. The same loads
also run through a sink's HTTP routes.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from math import ceil, floor
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from core.settings import DASHBOARDS, Settings
from fieldstream.effects.estimate import effects_by
from fieldstream.effects.synthetic import Plan, Program, carry_out, draw
from fieldstream.embedded import free_port
from fieldstream.grafana_sql import load_dashboards
from fieldstream.lists import write_targeted
from fieldstream.report import build_report, render_html
from sinks.holdout import HoldoutPlan
from sinks.migrate import migrate
from sinks.query_tokens import admin_token
from sinks.remote import DirectAccess, HttpSinkAccess, StoreAccess
from sinks.rows import VOTER_COLUMNS
from sinks.service import SinkService
from sinks.store import LockedStore, open_store
from sinks.universe_holdout import load_universe_holdout
from sinks.vote_history import COLUMNS as HISTORY_COLUMNS
from sinks.vote_history import LOAD_COLUMNS
from tests.factories.keeper import keeper_for, settle

pytestmark = pytest.mark.integration

ORG, CAMPAIGN = "org-e", "gotv"
PLAN = HoldoutPlan.parse("0.2", 11, "precinct,race")
BEFORE = dt.date(2024, 11, 5)
AFTER = dt.date.today() + dt.timedelta(days=7)
NOW = dt.datetime.now(dt.UTC)
CONTACT_COLUMNS = [
    "event_id", "org_id", "campaign_id", "channel", "occurred_at", "received_at", "enriched_at",
    "state", "voter_id", "result", "is_contact", "has_id", "source_system", "canvasser_id",
]  # fmt: skip


def voter_rows(p: Program) -> list[list[object]]:
    rows = []
    for i in range(p.voter_id.size):
        values = {
            "voter_id": p.voter_id[i], "state": "ZZ", "county": p.county[i],
            "precinct": p.precinct[i], "congressional_district": "1", "state_senate_district": "1",
            "state_house_district": "1", "birth_year": 2026 - int(p.age[i]), "age": int(p.age[i]),
            "age_band": "", "sex": p.sex[i], "race": p.race[i], "race_source": p.race_source[i],
            "race_probability": None, "ethnicity": "unknown", "ethnicity_source": "unknown",
            "ethnicity_probability": None, "precinct_lat": None, "precinct_lon": None,
            "updated_at": NOW,
        }  # fmt: skip
        rows.append([values[c] for c in VOTER_COLUMNS])
    return rows


def write_universe(path: Path, p: Program, campaign: str = CAMPAIGN) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["org_id", "campaign_id", "state", "voter_id", "turf_id", "channel"])
        for i in range(p.voter_id.size):
            w.writerow([ORG, campaign, "ZZ", p.voter_id[i], f"T{i % 7}", p.channel[i]])
    return path


def flags(store: StoreAccess, campaign: str = CAMPAIGN) -> dict[str, int]:
    rows = store.query(
        f"SELECT voter_id, holdout FROM universe_current WHERE campaign_id = '{campaign}'"
    )[1]
    return {str(v): int(h) for v, h in rows}


def run_program(
    store: StoreAccess, p: Program, tmp_path: Path, stream: StoreAccess | None = None
) -> Program:
    """Load the universe with its holdout, carry the program out against it, load history.
    Contacts go in as the sink's consumer writes them (``stream``: the store itself)."""
    load = load_universe_holdout(store, write_universe(tmp_path / "u.csv", p), PLAN)
    assert load.members == {(ORG, CAMPAIGN): p.voter_id.size}
    held = flags(store)
    carry_out(p, np.array([held[v] == 1 for v in p.voter_id]), np.random.default_rng(5))
    rng = np.random.default_rng(6)
    events = []
    for i in np.flatnonzero(p.contacted | (rng.random(p.voter_id.size) < 0.1)):
        contact = int(p.contacted[i])
        result = "canvassed" if contact else "not_home"
        events.append([f"ev{i}", ORG, CAMPAIGN, p.channel[i], NOW, NOW, NOW, "ZZ",
                       p.voter_id[i], result, contact, 0, "tool", f"c{i % 9}"])  # fmt: skip
    (stream or store).insert("contact_events", CONTACT_COLUMNS, events)
    history, loads = [], []
    placebo = rng.random(p.voter_id.size) < p.baseline
    for election, voted in ((AFTER, p.voted), (BEFORE, placebo)):
        ids = p.voter_id[voted]
        history += [["ZZ", v, election, "GENERAL", "", "L", NOW] for v in ids]
        loads.append(["L", "ZZ", election, int(ids.size), "synthetic", NOW, NOW])
    store.insert("vote_history", HISTORY_COLUMNS, history)
    store.insert("vote_history_loads", LOAD_COLUMNS, loads)
    return p


@pytest.fixture
def store(chdb_dsn: str) -> Iterator[DirectAccess]:
    locked = LockedStore(open_store(chdb_dsn))
    try:
        migrate(locked.client)
        yield DirectAccess(locked)
    finally:
        locked.close()


@pytest.fixture
def program(store: DirectAccess, tmp_path: Path) -> Program:
    p = draw(Plan(voters=4000, holdout=0.2, breach=0.03), seed=21)
    store.insert("voters", VOTER_COLUMNS, voter_rows(p))
    program = run_program(store, p, tmp_path)
    # what the sink's keeper keeps: the universe's groups (coverage and the holdout's breaches)
    settle(keeper_for(store.store))
    return program


def test_the_holdout_is_balanced_recorded_and_reproducible(
    store: DirectAccess, program: Program, tmp_path: Path
) -> None:
    rows = store.query(
        "SELECT stratum, count(), sum(holdout) FROM universe_current GROUP BY stratum"
    )[1]
    for stratum, n, k in rows:
        assert floor(n * Fraction(1, 5)) <= k <= ceil(n * Fraction(1, 5)), stratum
        county_precinct, race = stratum.split(" | ")
        assert " / " in county_precinct and race in ("white", "black", "latino", "asian", "other")
    plan = store.query("SELECT share_fraction, seed, strata, method, universe, held_out "
                       "FROM holdout_plans")[1]  # fmt: skip
    assert plan == [["1/5", 11, ["precinct", "race"], PLAN.method, 4000, sum(r[2] for r in rows)]]
    # the same universe for another campaign with the same seed: the same voters held out
    load_universe_holdout(store, write_universe(tmp_path / "b.csv", program, "gotv-b"), PLAN)
    assert flags(store, "gotv-b") == flags(store)
    other = HoldoutPlan.parse("0.2", 12, "precinct,race")
    load_universe_holdout(store, write_universe(tmp_path / "c.csv", program, "gotv-c"), other)
    assert flags(store, "gotv-c") != flags(store)


def test_the_views_estimates_equal_the_estimator_on_the_same_voters(
    store: DirectAccess, program: Program
) -> None:
    p = program
    columns, rows = store.query(
        f"SELECT * FROM effect_estimates WHERE election_date = '{AFTER}' AND campaign_id = "
        f"'{CAMPAIGN}'"
    )
    views = {(r["dimension"], r["value"], r["source"]): r
             for r in (dict(zip(columns, row, strict=True)) for row in rows)}  # fmt: skip
    groups = {
        "overall": [("all", "")] * p.voter_id.size,
        "channel": [(c, "") for c in p.channel],
        "race": list(zip(p.race, p.race_source, strict=True)),
        "county": [(c, "") for c in p.county],
    }
    checked = 0
    for dimension, keys in groups.items():
        for (value, source), est in effects_by(keys, p.held_out, p.voted, p.contacted).items():
            view = views[(dimension, value, source)]
            assert view["n_targeted"] == est.targeted.n and view["n_holdout"] == est.holdout.n
            assert view["breaches"] == est.breaches
            for name, mine in (("itt", est.itt), ("cace", est.cace)):
                assert view[name] == pytest.approx(mine.value, abs=1e-9)
                assert view[f"{name}_low"] == pytest.approx(mine.low, abs=1e-9)
                assert view[f"{name}_high"] == pytest.approx(mine.high, abs=1e-9)
            assert view["naive"] == pytest.approx(est.naive, abs=1e-9)
            checked += 1
    assert checked >= 12
    overall = views[("overall", "all", "")]
    assert overall["after_program"] == 1
    # one draw's interval covers the truth 95% of the time (tests/unit/test_effects.py checks
    # that over seeds); the naive comparison is off by far more than that
    assert overall["naive"] > p.true_cace() + 0.1
    before = store.query(
        "SELECT after_program, itt_low, itt_high FROM effect_estimates WHERE dimension = "
        f"'overall' AND election_date = '{BEFORE}' AND campaign_id = '{CAMPAIGN}'"
    )[1]
    assert before[0][0] == 0 and before[0][1] < 0 < before[0][2]  # the draw was balanced


def test_breaches_are_counted_and_held_out_voters_never_listed(
    store: DirectAccess, program: Program, tmp_path: Path
) -> None:
    p = program
    held = int(p.held_out.sum())
    breached = int((p.held_out & p.contacted).sum())
    assert breached > 0
    attempted_held = store.query(
        f"SELECT count() FROM holdout_breach_events WHERE campaign_id = '{CAMPAIGN}'"
    )[1][0][0]
    assert attempted_held >= breached
    got = store.query("SELECT held_out, breached, breached_contacted FROM holdout_breaches "
                      f"WHERE campaign_id = '{CAMPAIGN}'")[1]  # fmt: skip
    assert got[0][0] == held and got[0][2] == breached and got[0][1] == attempted_held
    coverage = store.query(
        "SELECT universe, held_out, holdout_breaches FROM universe_coverage "
        f"WHERE campaign_id = '{CAMPAIGN}'"
    )[1]
    assert coverage == [[p.voter_id.size - held, held, attempted_held]]
    written, left_out = write_targeted(store, ORG, CAMPAIGN, tmp_path / "list.csv")
    with (tmp_path / "list.csv").open() as f:
        listed = {r["voter_id"] for r in csv.DictReader(f)}
    assert written == len(listed) == p.voter_id.size - held and left_out == held
    assert not listed & set(p.voter_id[p.held_out])


def test_the_report_shows_the_analysis_with_small_groups_suppressed(
    store: DirectAccess, program: Program
) -> None:
    report = build_report(
        store.query, load_dashboards(DASHBOARDS), k=11, org=ORG, campaign=CAMPAIGN
    )
    (section,) = [s for s in report.sections if s.title == "Post-election analysis"]
    panels = {p.title: p for p in section.panels}
    assert not any(p.error for p in panels.values()), [p.error for p in panels.values()]
    assert panels["Holdout and breaches"].rows[0][0] == int(program.held_out.sum())
    by_race = panels["Effect of a contact, by race (with its source)"]
    assert by_race.group_size == "smaller_arm"
    for row, flag in zip(by_race.records(), by_race.suppressed, strict=True):
        if row["smaller_arm"] is not None:
            assert row["smaller_arm"] >= 11 and flag is None
    assert any(f == "small" for f in by_race.suppressed)  # 15 races x sources: some are small
    html = render_html(report)
    assert "Effect of a contact, by planned channel" in html and "<svg" in html
    assert "naive: contacted vs not" in html


def test_loads_through_the_sinks_routes(chdb_dsn: str, tmp_path: Path) -> None:
    """The path commands take while the sink runs: /query and /insert, dates as JSON text."""
    locked = LockedStore(open_store(chdb_dsn))
    migrate(locked.client)
    settings = Settings(data_dir=tmp_path)
    service = SinkService(settings)
    service.store = locked
    service.open_door()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(service.app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    access = HttpSinkAccess(f"http://127.0.0.1:{port}", admin_token(settings.query))
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        p = draw(Plan(voters=600, holdout=0.2), seed=3)
        locked.insert("voters", VOTER_COLUMNS, voter_rows(p))
        run_program(access, p, tmp_path, stream=DirectAccess(locked))
        got = access.query(
            "SELECT count(), sum(holdout) FROM universe_current WHERE campaign_id = 'gotv'"
        )[1]
        assert got == [[600, 120]]
        estimates = access.query(
            "SELECT itt, cace FROM effect_estimates WHERE dimension = 'overall'"
        )[1]
        assert len(estimates) == 2 and all(not math.isnan(r[0]) for r in estimates)
    finally:
        access.close()
        server.should_exit = True
        thread.join(10)
        if service.door is not None:
            service.door.close()  # its own chDB clients: chDB allows one path per process
        locked.close()
