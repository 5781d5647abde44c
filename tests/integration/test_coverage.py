"""Universes and coverage on real chDB: the views equal a recount in Python.

A voters table, a universe (CSV with turfs, some voters not on the file) and contact events
(some for voters outside the universe, another campaign, a redelivered batch) are loaded; the
coverage views are compared with the same numbers counted here. Reloading the universe with
fewer voters shrinks the denominators; a universe defined by --where holds the voters it names.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from core.errors import InputError
from core.settings import Settings
from fieldstream.embedded import free_port
from fieldstream.suppress import SMALL, protect
from schemas import ENRICHED_CONTACT, AvroCodec
from sinks.loaders import load_universe, load_universe_where
from sinks.migrate import migrate
from sinks.query_tokens import admin_token
from sinks.remote import DirectAccess, HttpSinkAccess
from sinks.rows import CONTACT_COLUMNS, VOTER_COLUMNS, contact_row
from sinks.service import SinkService
from sinks.store import LockedStore, open_store
from tests.factories.keeper import keeper_for, settle

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
NOW = dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)
ORG, CAMPAIGN = "org-c", "gotv"
DIMENSIONS = ("county", "precinct", "turf", "race", "ethnicity", "sex", "age_band")
rng = random.Random(7)


def make_voters(n: int) -> dict[str, dict[str, Any]]:
    voters = {}
    for i in range(n):
        source = rng.choice(["self_reported", "bisg", "vendor_model"])
        age = rng.choice([None, 19, 25, 33, 50, 70])
        voters[f"V{i}"] = {
            "voter_id": f"V{i}",
            "state": "PA",
            "county": rng.choice(["Erie", "Erie", "Crawford"]),
            "precinct": rng.choice(["001", "002", "003"]),
            "race": rng.choice(["black", "white", "asian", "unknown"]),
            "race_source": source,
            "ethnicity": rng.choice(["hispanic", "not_hispanic"]),
            "ethnicity_source": source,
            "sex": rng.choice(["f", "m", "x"]),
            "age": age,
            "age_band": {None: "unknown", 19: "18-29", 25: "18-29", 33: "30-44"}.get(age)
            or ("45-64" if age == 50 else "65+"),
        }
    return voters


VOTERS = make_voters(150)


def voter_rows() -> list[list[Any]]:
    rows = []
    for v in VOTERS.values():
        record = {**v, "updated_at": NOW, "birth_year": None, "race_probability": None}
        record |= {"ethnicity_probability": None, "precinct_lat": None, "precinct_lon": None}
        rows.append([record.get(c, "") for c in VOTER_COLUMNS])
    return rows


def event(i: int, voter: str, campaign: str, result: str) -> dict[str, Any]:
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"coverage-{i}"),
            "source_system": "van",
            "source_event_id": str(i),
            "org_id": ORG,
            "campaign_id": campaign,
            "channel": "door",
            "occurred_at": NOW + dt.timedelta(minutes=i),
            "received_at": NOW,
            "person": {"voter_id": voter, "state": "PA"},
            "result": result,
            "result_raw": result,
        },
        "voter_matched": False,
        "voter": None,
        "enriched_at": NOW,
    }


# universe: V0..V119 on the file plus 10 voters not on it; turfs by number
UNIVERSE = [f"V{i}" for i in range(120)] + [f"X{i}" for i in range(10)]
EVENTS = [
    event(i, voter, campaign, rng.choice(["canvassed", "not_home", "refused"]))
    for i, (voter, campaign) in enumerate(
        [(rng.choice([*UNIVERSE, "V130", "V140"]), "gotv") for _ in range(160)]
        + [(rng.choice(UNIVERSE), "persuasion") for _ in range(40)]
    )
]


def write_universe(path: Path, members: list[str]) -> Path:
    lines = ["org_id,campaign_id,state,voter_id,turf_id"]
    lines += [f"{ORG},{CAMPAIGN},PA,{v},T{int(v[1:]) % 4}" for v in members]
    path.write_text("\n".join(lines) + "\n")
    return path


def recount(
    members: list[str], turfs: bool = True
) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    """(dimension, value, source) -> (universe, attempted, contacted), counted here."""
    attempted, contacted = set(), set()
    for e in (x["contact"] for x in EVENTS if x["contact"]["campaign_id"] == CAMPAIGN):
        attempted.add(e["person"]["voter_id"])
        if e["result"] == "canvassed":
            contacted.add(e["person"]["voter_id"])
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for m in members:
        v = VOTERS.get(m, {})
        county = v.get("county", "unknown")
        groups = [
            ("county", county, ""),
            ("precinct", f"{county} / {v.get('precinct', 'unknown')}", ""),
            ("turf", f"T{int(m[1:]) % 4}" if turfs else "none", ""),
            ("race", v.get("race", "unknown"), v.get("race_source", "unknown")),
            ("ethnicity", v.get("ethnicity", "unknown"), v.get("ethnicity_source", "unknown")),
            ("sex", v.get("sex", "unknown"), ""),
            ("age_band", v.get("age_band", "unknown"), ""),
        ]
        for g in groups:
            out[g][0] += 1
            out[g][1] += m in attempted
            out[g][2] += m in contacted
    return {g: (a, b, c) for g, (a, b, c) in out.items()}


BY_GROUP = (
    "SELECT dimension, value, source, universe, attempted, contacted, attempted_share "
    f"FROM universe_coverage_by_group WHERE org_id = '{ORG}' AND campaign_id = '{CAMPAIGN}'"
)


def by_group(store: DirectAccess) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    settle(keeper_for(store.store))  # the keeper builds the coverage groups of a new load
    out = {}
    for dim, value, source, universe, attempted, contacted, share in store.query(BY_GROUP)[1]:
        assert share == pytest.approx(attempted / universe)
        out[(dim, value, source)] = (universe, attempted, contacted)
    return out


@pytest.fixture
def store(chdb_dsn: str) -> Iterator[DirectAccess]:
    locked = LockedStore(open_store(chdb_dsn))
    try:
        migrate(locked.client)
        locked.insert("voters", VOTER_COLUMNS, voter_rows())
        rows = [contact_row(CODEC.decode(CODEC.encode(ENRICHED_CONTACT, e))[1]) for e in EVENTS]
        locked.insert("contact_events", CONTACT_COLUMNS, rows, "coverage:0")
        locked.insert("contact_events", CONTACT_COLUMNS, rows[:50], "coverage:1")  # redelivery
        yield DirectAccess(locked)
    finally:
        locked.close()


def test_coverage_equals_a_recount_and_reload_replaces(store: DirectAccess, tmp_path: Path) -> None:
    assert load_universe(store, write_universe(tmp_path / "u.csv", UNIVERSE)) == len(UNIVERSE)
    want = recount(UNIVERSE)
    assert by_group(store) == want  # settles the keeper: the totals below are current too
    assert {d for d, _, _ in want} == set(DIMENSIONS)
    assert want[("county", "unknown", "")][0] == 10  # the voters not on the file
    totals = store.query(
        "SELECT universe, attempted, contacted, on_file FROM universe_coverage "
        f"WHERE org_id = '{ORG}' AND campaign_id = '{CAMPAIGN}'"
    )[1]
    county = [v for g, v in want.items() if g[0] == "county"]
    assert totals == [[len(UNIVERSE), *(sum(x[i] for x in county) for i in (1, 2)), 120]]

    # the shareable form: small groups and their complements suppressed per dimension, and
    # every dimension's total is the universe size
    columns, rows = store.query(BY_GROUP)
    shared = protect(
        [dict(zip(columns, r, strict=True)) for r in rows],
        "universe",
        11,
        by=["value", "source"],
        within=["dimension"],
        also=["attempted", "contacted", "attempted_share"],
    )
    assert set(shared.totals.values()) == {len(UNIVERSE)}
    for dim in DIMENSIONS:
        cells = [r for r in shared.rows if r["dimension"] == dim]
        assert sum(1 for r in cells if r["universe"] is None) != 1
        for r in cells:
            assert r["universe"] is None or r["universe"] >= 11
    assert any(r["suppressed"] == SMALL for r in shared.rows)

    fewer = UNIVERSE[::3]  # a reload with fewer voters: the dropped ones leave the denominator
    assert load_universe(store, write_universe(tmp_path / "u2.csv", fewer)) == len(fewer)
    assert by_group(store) == recount(fewer)
    sizes = store.query("SELECT campaign_id, count() FROM universe_current GROUP BY campaign_id")[1]
    assert sizes == [[CAMPAIGN, len(fewer)]]
    store.store.client.command("OPTIMIZE TABLE universes FINAL")  # merged: still the reload
    assert by_group(store) == recount(fewer)


def test_universe_from_a_query_on_voters(store: DirectAccess, tmp_path: Path) -> None:
    load_universe(store, write_universe(tmp_path / "u.csv", UNIVERSE))
    where = "county = 'Erie' AND age >= 30"
    n = load_universe_where(store, ORG, CAMPAIGN, where)
    members = sorted(
        v for v, r in VOTERS.items() if r["county"] == "Erie" and (r["age"] or 0) >= 30
    )
    assert n == len(members) > 0
    got = store.query(
        f"SELECT voter_id FROM universe_current WHERE campaign_id = '{CAMPAIGN}' ORDER BY voter_id"
    )[1]
    assert [r[0] for r in got] == members
    assert by_group(store) == recount(members, turfs=False)
    with pytest.raises(InputError, match="matches no voter"):
        load_universe_where(store, ORG, CAMPAIGN, "county = 'Nowhere'")
    assert load_universe_where(store, ORG, CAMPAIGN, "county = 'Crawford'") > 0


def test_universe_from_a_query_through_the_sink_api(store: DirectAccess, tmp_path: Path) -> None:
    """The path a command takes while the sink runs: /query reads the voters, one /insert
    writes the load. The sink's app is served here on the same store (no Kafka needed for
    these two routes)."""
    settings = Settings(data_dir=tmp_path)
    service = SinkService(settings)
    service.store = store.store
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
        n = load_universe_where(access, ORG, CAMPAIGN, "county = 'Erie' AND sex = 'f'")
    finally:
        access.close()
        server.should_exit = True
        thread.join(10)
        assert service.door is not None
        service.door.close()
    members = sorted(v for v, r in VOTERS.items() if r["county"] == "Erie" and r["sex"] == "f")
    assert n == len(members) > 0
    assert by_group(store) == recount(members, turfs=False)


def test_holdout_and_its_breaches_come_from_the_groups(store: DirectAccess, tmp_path: Path) -> None:
    """The held-out members are a group of their own: held_out and the breaches on the board
    equal a recount here and the member-level view's, and coverage by group leaves them out."""
    from fractions import Fraction

    from sinks.holdout import HoldoutPlan
    from sinks.universe_holdout import load_universe_holdout

    load = load_universe_holdout(
        store, write_universe(tmp_path / "u.csv", UNIVERSE), HoldoutPlan(Fraction(1, 4), 11)
    )
    held = {
        str(r[0])
        for r in store.query(
            f"SELECT voter_id FROM universe_current WHERE campaign_id = '{CAMPAIGN}' "
            "AND holdout = 1"
        )[1]
    }
    assert len(held) == load.held_out[(ORG, CAMPAIGN)] > 0
    targeted = [m for m in UNIVERSE if m not in held]
    assert by_group(store) == recount(targeted)  # settles the keeper; no 'held_out' group here
    campaign = [x["contact"] for x in EVENTS if x["contact"]["campaign_id"] == CAMPAIGN]
    breached = {e["person"]["voter_id"] for e in campaign} & held
    talked = {e["person"]["voter_id"] for e in campaign if e["result"] == "canvassed"} & held
    assert breached and talked != breached  # the draw breaches, and not only with talks
    scope = f"WHERE org_id = '{ORG}' AND campaign_id = '{CAMPAIGN}'"
    got = store.query(
        f"SELECT held_out, breached, breached_contacted FROM holdout_breaches {scope}"
    )
    assert got[1] == [[len(held), len(breached), len(talked)]]
    members = store.query(
        "SELECT count(), sum(attempted), sum(contacted) FROM universe_members_all "
        f"{scope} AND holdout = 1"
    )
    assert members[1] == [[len(held), len(breached), len(talked)]]
    board = store.query(
        f"SELECT universe, held_out, holdout_breaches FROM universe_coverage {scope}"
    )
    assert board[1] == [[len(targeted), len(held), len(breached)]]


def test_groups_built_before_the_holdout_group_are_built_again(
    store: DirectAccess, tmp_path: Path
) -> None:
    """A store whose groups were built by a keeper without the 'held_out' group (its voters
    stamp has no shape) gets them built again on the next pass."""
    from fractions import Fraction

    from sinks import coverage
    from sinks.holdout import HoldoutPlan
    from sinks.universe_holdout import load_universe_holdout

    load_universe_holdout(
        store, write_universe(tmp_path / "u.csv", UNIVERSE), HoldoutPlan(Fraction(1, 4), 11)
    )
    keeper = keeper_for(store.store)
    settle(keeper)
    scope = f"WHERE org_id = '{ORG}' AND campaign_id = '{CAMPAIGN}'"
    want = store.query(f"SELECT held_out, breached FROM holdout_breaches {scope}")[1]
    assert want and want[0][0] > 0
    store.store.client.command("DELETE FROM universe_groups WHERE dim = 'held_out'")
    old = coverage.voters_stamp(store.store).split("/", 1)[1]  # as the keeper before wrote it
    keeper.set_state(coverage.STAMP, old)
    assert store.query(f"SELECT held_out FROM holdout_breaches {scope}")[1] == []
    settle(keeper)
    assert store.query(f"SELECT held_out, breached FROM holdout_breaches {scope}")[1] == want
