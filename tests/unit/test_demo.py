"""The demo state is a deterministic function of the seed and plausible."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path

from core.config import load_programs, load_sources
from producers.demo.state import TRAFFIC_SHARE, generate_demo

TODAY = dt.date(2026, 10, 14)  # a Wednesday


def _files(paths_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(paths_dir.iterdir()) if p.name != "sources.yaml"}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    generate_demo(tmp_path / "a", seed=7, today=TODAY)
    generate_demo(tmp_path / "b", seed=7, today=TODAY)
    generate_demo(tmp_path / "c", seed=8, today=TODAY)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert a == b
    assert a["voters.csv"] != c["voters.csv"]


def test_existing_files_are_not_rewritten(tmp_path: Path) -> None:
    paths = generate_demo(tmp_path, today=TODAY)
    secret_before = paths.sources.read_text()
    paths.goals.write_text("org_id,campaign_id,week,metric,target\n")
    again = generate_demo(tmp_path, today=TODAY)
    assert again.sources.read_text() == secret_before
    assert again.goals.read_text() == "org_id,campaign_id,week,metric,target\n"


def test_plausible_voters_programs_sources(tmp_path: Path) -> None:
    paths = generate_demo(tmp_path, today=TODAY)
    rows = list(csv.DictReader(paths.voters.open()))
    assert 3500 <= len(rows) <= 4500
    assert len({r["Precinct"] for r in rows}) == 40
    assert len({r["County"] for r in rows}) == 4
    assert {r["CD"] for r in rows} <= {"1", "2"}
    ages = [TODAY.year - int(r["BirthYear"]) for r in rows]
    assert min(ages) >= 18 and max(ages) <= 95
    sources = Counter(r["RaceSource"] for r in rows)
    assert sources["SR"] / len(rows) > 0.5
    assert all(sources[s] > 0 for s in ("VM", "BISG", "U"))
    modeled = [r for r in rows if r["RaceSource"] in ("VM", "BISG")]
    assert all(0 < float(r["RaceProb"]) <= 1 for r in modeled)
    programs = load_programs(paths.programs)
    assert programs.knows_campaign("demo-org", "persuasion-2026")
    assert programs.knows_campaign("allies-org", "allies-gotv")
    sources_cfg = load_sources(paths.sources)
    assert set(sources_cfg) == {"demo-org-simulator", "allies-org-simulator"}
    assert sources_cfg["allies-org-simulator"].org_id == "allies-org"


def test_universes_and_goals(tmp_path: Path) -> None:
    paths = generate_demo(tmp_path, today=TODAY)
    voter_ids = {r["VoterID"] for r in csv.DictReader(paths.voters.open())}
    for path in paths.universes:
        rows = list(csv.DictReader(path.open()))
        assert rows and {r["voter_id"] for r in rows} <= voter_ids
        assert len({(r["org_id"], r["campaign_id"]) for r in rows}) == 1
    goals = list(csv.DictReader(paths.goals.open()))
    weeks = sorted({g["week"] for g in goals})
    assert weeks[0] == "2026-09-14" and weeks[-1] == "2026-12-07" and len(weeks) == 13
    assert all(dt.date.fromisoformat(w).weekday() == 0 for w in weeks)
    assert {g["metric"] for g in goals} == {"attempts", "contacts", "ids", "people_reached"}
    this_week = [g for g in goals if g["week"] == "2026-10-12" and g["metric"] == "attempts"]
    # a minute of the simulator at 20 events/s moves each bar visibly: >= 1% of the goal
    assert len(this_week) == 3
    assert all(int(g["target"]) <= 100 * 1200 * TRAFFIC_SHARE[g["campaign_id"]] for g in this_week)
