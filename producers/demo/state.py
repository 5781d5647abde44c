"""The demo state: a synthetic voter file for state ZZ, programs, sources, universes, goals and
volunteer shifts (a saved Mobilize export per org: producers/demo/shifts.py).

Everything but the sender secrets is a function of the seed (``random.Random(seed)``) and
``today`` (which fixes the goal weeks and birth years). Files already present are left as they
are, so a data manager's edits and the generated secrets survive restarts.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import SecretStr

from core.config import (
    DEFAULT_TIMEZONE,
    CampaignConfig,
    FoldConfig,
    OrgConfig,
    RampConfig,
    RampPoint,
    SourceConfig,
    write_programs,
    write_sources,
)
from producers.demo.shifts import write_export

STATE = "ZZ"
N_VOTERS = 4000
COUNTIES = ("Alder", "Birch", "Cedar", "Dogwood")
PRECINCTS_PER_COUNTY = 10
CAMPAIGNS: dict[str, tuple[str, ...]] = {
    "demo-org": ("gotv-2026", "persuasion-2026"),
    "allies-org": ("allies-gotv",),
}
ORG_NAMES = {"demo-org": "Demo Organizing Project", "allies-org": "Allied Groups Table"}
# share of the voter file in each campaign's universe
UNIVERSE_SHARE = {"gotv-2026": 0.40, "persuasion-2026": 0.30, "allies-gotv": 0.25}
# share of the simulator's traffic per campaign (see producers.demo.simulator.CAMPAIGN_WEIGHTS)
TRAFFIC_SHARE = {"gotv-2026": 0.45, "persuasion-2026": 0.30, "allies-gotv": 0.25}
VOTER_COLUMNS = (
    "VoterID",
    "State",
    "County",
    "Precinct",
    "CD",
    "SD",
    "HD",
    "BirthYear",
    "Gender",
    "Race",
    "RaceSource",
    "RaceProb",
    "Ethnicity",
    "EthnicitySource",
    "EthnicityProb",
    "PrecinctLat",
    "PrecinctLon",
)
MAPPING = {
    "default_state": STATE,
    "columns": {
        "voter_id": "VoterID",
        "state": "State",
        "county": "County",
        "precinct": "Precinct",
        "congressional_district": "CD",
        "state_senate_district": "SD",
        "state_house_district": "HD",
        "birth_year": "BirthYear",
        "sex": "Gender",
        "race": "Race",
        "race_source": "RaceSource",
        "race_probability": "RaceProb",
        "ethnicity": "Ethnicity",
        "ethnicity_source": "EthnicitySource",
        "ethnicity_probability": "EthnicityProb",
        "precinct_lat": "PrecinctLat",
        "precinct_lon": "PrecinctLon",
    },
    "values": {
        "sex": {"F": "female", "M": "male", "X": "other", "U": "unknown"},
        "race": {
            "W": "white",
            "B": "black",
            "H": "latino",
            "A": "asian",
            "N": "native_american",
            "P": "pacific_islander",
            "M": "multiracial",
            "O": "other",
            "U": "unknown",
        },
        "race_source": {
            "SR": "self_reported",
            "VM": "vendor_model",
            "BISG": "bisg",
            "U": "unknown",
        },
        "ethnicity": {"H": "hispanic", "N": "not_hispanic", "U": "unknown"},
        "ethnicity_source": {
            "SR": "self_reported",
            "VM": "vendor_model",
            "BISG": "bisg",
            "U": "unknown",
        },
    },
}
RACES = (("W", 0.58), ("B", 0.18), ("H", 0.13), ("A", 0.06), ("N", 0.01))
RACES_REST = (("P", 0.005), ("M", 0.02), ("O", 0.015))
RACE_SOURCES = (("SR", 0.60), ("VM", 0.20), ("BISG", 0.12), ("U", 0.08))
AGE_BANDS = ((18, 29, 0.20), (30, 44, 0.25), (45, 64, 0.33), (65, 95, 0.22))
METRIC_RATIOS = {"attempts": 1.0, "contacts": 0.22, "ids": 0.17, "people_reached": 0.18}


@dataclass(frozen=True)
class DemoPaths:
    dir: Path
    programs: Path
    sources: Path
    voters: Path
    voters_mapping: Path
    goals: Path
    universes: list[Path]
    shifts: dict[tuple[str, str], Path]  # (org, campaign) -> a saved Mobilize API export


def demo_orgs(today: dt.date) -> list[OrgConfig]:
    """The demo's orgs: demo-org on the file's clock, allies-org on Chicago's; gotv-2026 ramps
    up to twice its early volume by election week, weekends busiest; Spoke's contacts and VAN's
    export of them count once."""
    ramp = RampConfig(
        weekdays=[1.0, 1.0, 1.0, 1.1, 1.2, 1.6, 1.4],
        points=[
            RampPoint(date=today - dt.timedelta(days=42), level=1.0),
            RampPoint(date=today + dt.timedelta(days=21), level=2.0),
        ],
    )
    out = []
    for org, campaigns in CAMPAIGNS.items():
        listed: list[str | CampaignConfig] = [
            CampaignConfig(id=c, ramp=ramp) if c == "gotv-2026" else c for c in campaigns
        ]
        out.append(
            OrgConfig(
                id=org,
                name=ORG_NAMES[org],
                campaigns=listed,
                timezone="America/Chicago" if org == "allies-org" else None,
                folds=FoldConfig(pairs=[("spoke", "van")]),
            )
        )
    return out


def generate_demo(dir: Path, seed: int = 7, today: dt.date | None = None) -> DemoPaths:
    """Write the demo files under ``dir`` (those missing only) and return their paths."""
    today = today or dt.datetime.now(dt.UTC).date()
    dir.mkdir(parents=True, exist_ok=True)
    paths = DemoPaths(
        dir=dir,
        programs=dir / "programs.yaml",
        sources=dir / "sources.yaml",
        voters=dir / "voters.csv",
        voters_mapping=dir / "voters_mapping.yaml",
        goals=dir / "goals.csv",
        universes=[dir / f"universe-{c}.csv" for cs in CAMPAIGNS.values() for c in cs],
        shifts={(o, cs[0]): dir / f"mobilize-{o}.json" for o, cs in CAMPAIGNS.items()},
    )
    if not paths.programs.exists():
        write_programs(paths.programs, demo_orgs(today), timezone=DEFAULT_TIMEZONE)
    if not paths.sources.exists():
        sources = [
            SourceConfig(
                id=f"{org}-simulator", org_id=org, secrets=[SecretStr(secrets.token_urlsafe(32))]
            )
            for org in CAMPAIGNS
        ]
        write_sources(paths.sources, sources)
    if not paths.voters_mapping.exists():
        paths.voters_mapping.write_text(yaml.safe_dump(MAPPING, sort_keys=False))
    rng = random.Random(seed)
    rows = voter_rows(rng, today.year)
    if not paths.voters.exists():
        _write_csv(paths.voters, VOTER_COLUMNS, rows)
    voter_ids = [r[0] for r in rows]
    for org, campaigns in CAMPAIGNS.items():
        for campaign in campaigns:
            chosen = sorted(rng.sample(voter_ids, int(len(voter_ids) * UNIVERSE_SHARE[campaign])))
            path = dir / f"universe-{campaign}.csv"
            if not path.exists():
                _write_csv(
                    path,
                    ("org_id", "campaign_id", "state", "voter_id"),
                    [(org, campaign, STATE, v) for v in chosen],
                )
    if not paths.goals.exists():
        _write_csv(
            paths.goals, ("org_id", "campaign_id", "week", "metric", "target"), goal_rows(today)
        )
    for (org, _campaign), path in paths.shifts.items():
        write_export(path, org, today, seed)
    return paths


def precincts(rng: random.Random) -> list[tuple[str, str, str, str, str, float, float]]:
    """(precinct, county, cd, sd, hd, lat, lon) for the demo's 40 precincts."""
    out = []
    for ci, county in enumerate(COUNTIES):
        base_lat, base_lon = 40.0 + ci * 0.35, -89.0 + (ci % 2) * 0.5
        for p in range(PRECINCTS_PER_COUNTY):
            n = ci * PRECINCTS_PER_COUNTY + p
            out.append(
                (
                    f"{county[:3].upper()}-{p + 1:02d}",
                    county,
                    "1" if ci < 2 else "2",
                    str(1 + n // 10 * 2 + (p % 2)),
                    str(1 + n // 5),
                    round(base_lat + rng.uniform(-0.15, 0.15), 5),
                    round(base_lon + rng.uniform(-0.2, 0.2), 5),
                )
            )
    return out


def _pick(rng: random.Random, options: Sequence[tuple[str, float]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def voter_rows(rng: random.Random, year: int, n: int = N_VOTERS) -> list[tuple[str, ...]]:
    """The voter file's rows in VOTER_COLUMNS order."""
    places = precincts(rng)
    weights = [rng.uniform(0.5, 1.5) for _ in places]
    rows: list[tuple[str, ...]] = []
    for i in range(n):
        precinct, county, cd, sd, hd, lat, lon = rng.choices(places, weights=weights)[0]
        lo, hi, _ = rng.choices(AGE_BANDS, weights=[b[2] for b in AGE_BANDS])[0]
        birth_year = year - rng.randint(lo, hi)
        sex = _pick(rng, (("F", 0.52), ("M", 0.46), ("X", 0.005), ("U", 0.015)))
        source = _pick(rng, RACE_SOURCES)
        race = "U" if source == "U" else _pick(rng, RACES + RACES_REST)
        race_prob = "" if source in ("SR", "U") else f"{rng.uniform(0.55, 0.97):.2f}"
        if source == "U":
            eth, eth_source, eth_prob = "U", "U", ""
        else:
            eth = "H" if race == "H" or rng.random() < 0.02 else "N"
            eth_source = source
            eth_prob = "" if source == "SR" else f"{rng.uniform(0.6, 0.98):.2f}"
        rows.append(
            (
                f"{STATE}{i + 1:06d}",
                STATE,
                county,
                precinct,
                cd,
                sd,
                hd,
                str(birth_year),
                sex,
                race,
                source,
                race_prob,
                eth,
                eth_source,
                eth_prob,
                str(lat),
                str(lon),
            )
        )
    return rows


def goal_rows(today: dt.date, rate: float = 20.0) -> list[tuple[str, str, str, str, int]]:
    """Weekly goals from 4 weeks before this week to 8 after.

    This week's attempts goal is about 30 minutes of simulator traffic at ``rate`` events/s,
    so a minute of traffic moves its bar by about 3%; other weeks ramp up toward the election.
    People reached is capped below the universe size (the simulator works the universe).
    """
    monday = today - dt.timedelta(days=today.weekday())
    rows = []
    for org, campaigns in CAMPAIGNS.items():
        for campaign in campaigns:
            per_week = rate * 60 * 30 * TRAFFIC_SHARE[campaign]
            universe = N_VOTERS * UNIVERSE_SHARE[campaign]
            for w in range(-4, 9):
                week = monday + dt.timedelta(weeks=w)
                scale = 1.0 + 0.08 * w
                for metric, ratio in METRIC_RATIOS.items():
                    target = max(1, round(per_week * scale * ratio, -1))
                    if metric == "people_reached":
                        target = min(target, round(universe * 0.6, -1))
                    rows.append((org, campaign, week.isoformat(), metric, int(target)))
    return rows


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)
