"""Load a universe with a randomized holdout: ``fieldstream load-universe ... --holdout 0.1``.

The universe (a CSV file, or a condition on the voters table) is read as sinks.loaders reads it;
each member's strata come from the voters table in the store (precinct, county, race,
ethnicity, sex, age band; a voter not on the file is ``unknown``) or the universe itself (turf);
sinks.holdout.assign draws the holdout per org and campaign from the plan's seed; the members go
into universes with ``holdout`` and ``stratum``, and the plan into holdout_plans so the draw can
be repeated and checked. Why the strata are looked up in the store: a CSV universe's voters are
staged there (universe_staging) and joined with the voters table, so only the universe's own
voters travel, never a whole state's file.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from sinks.holdout import HoldoutPlan, assign, stratum_label
from sinks.loaders import UNIVERSE_COLUMNS, check_where, parse_universe
from sinks.remote import StoreAccess
from sinks.sql import string_literal

STAGING_COLUMNS = ["load_id", "state", "voter_id", "turf_id", "loaded_at"]
PLAN_COLUMNS = [
    "org_id", "campaign_id", "load_id", "share", "share_fraction", "seed", "strata", "method",
    "universe", "held_out", "loaded_at",
]  # fmt: skip
ATTRIBUTES = ("county", "precinct", "race", "ethnicity", "sex", "age_band")
# the voters table's columns for each attribute ('unknown' when the voter is not on the file)
_ATTRIBUTE_SQL = (
    "if(v.on_file = 1 AND v.county != '', v.county, 'unknown') AS county, "
    "if(v.on_file = 1 AND v.precinct != '', concat(v.county, ' / ', v.precinct), 'unknown') "
    "AS precinct, "
    "if(v.on_file = 1 AND v.race != '', v.race, 'unknown') AS race, "
    "if(v.on_file = 1 AND v.ethnicity != '', v.ethnicity, 'unknown') AS ethnicity, "
    "if(v.on_file = 1 AND v.sex != '', v.sex, 'unknown') AS sex, "
    "if(v.on_file = 1 AND v.age_band != '', v.age_band, 'unknown') AS age_band"
)
_VOTERS = (
    "(SELECT state, voter_id, county, precinct, toString(race) AS race, "
    "toString(ethnicity) AS ethnicity, toString(sex) AS sex, toString(age_band) AS age_band, "
    "toUInt8(1) AS on_file FROM voters FINAL)"
)


@dataclass
class HoldoutLoad:
    """What a universe load with a holdout did, per org and campaign."""

    plan: HoldoutPlan
    members: dict[tuple[str, str], int] = field(default_factory=dict)
    held_out: dict[tuple[str, str], int] = field(default_factory=dict)
    strata: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.members.values())

    def __str__(self) -> str:
        parts = [
            f"{org}/{campaign}: {self.members[(org, campaign)]:,} members, "
            f"{self.held_out[(org, campaign)]:,} held out across {self.strata[(org, campaign)]:,} "
            "strata"
            for org, campaign in sorted(self.members)
        ]
        return "; ".join(parts) + f" ({self.plan.describe()})"


Attributes = tuple[str, ...]
"""A voter's values of ATTRIBUTES, in that order (tuples: a universe has millions)."""
UNKNOWN: Attributes = ("unknown",) * len(ATTRIBUTES)


def _stratum(plan: HoldoutPlan, attrs: Attributes, turf: str) -> tuple[str, ...]:
    return tuple(
        (turf or "none") if name == "turf" else attrs[ATTRIBUTES.index(name)]
        for name in plan.strata
    )


def _attributes(store: StoreAccess, sql: str) -> dict[tuple[str, str], Attributes]:
    columns, rows = store.query(sql)
    at = [columns.index(a) for a in ATTRIBUTES]
    state, voter = columns.index("state"), columns.index("voter_id")
    return {(str(r[state]), str(r[voter])): tuple(str(r[i]) for i in at) for r in rows}


def _draw(
    store: StoreAccess,
    rows: list[list[Any]],
    attrs: dict[tuple[str, str], Attributes],
    plan: HoldoutPlan,
) -> HoldoutLoad:
    """Assign each org/campaign's members, insert them and the plan; the load's summary."""
    result = HoldoutLoad(plan)
    campaigns: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        campaigns[(r[0], r[1])].append(i)
    out, plans = [], []
    for (org, campaign), members in sorted(campaigns.items()):
        keys = [f"{rows[i][2]}:{rows[i][3]}" for i in members]
        strata = [
            _stratum(plan, attrs.get((rows[i][2], rows[i][3]), UNKNOWN), rows[i][4])
            for i in members
        ]
        held = assign(keys, strata, plan.share, plan.seed)
        for i, s, h in zip(members, strata, held, strict=True):
            out.append([*rows[i], int(h), stratum_label(s)])
        result.members[(org, campaign)] = len(members)
        result.held_out[(org, campaign)] = sum(held)
        result.strata[(org, campaign)] = len(set(strata))
        r0 = rows[members[0]]
        plans.append([
            org, campaign, r0[5], float(plan.share), str(plan.share), plan.seed,
            list(plan.strata), plan.method, len(members), sum(held), r0[6],
        ])  # fmt: skip
    store.insert("universes", [*UNIVERSE_COLUMNS, "holdout", "stratum"], out)
    store.insert("holdout_plans", PLAN_COLUMNS, plans)
    return result


def load_universe_holdout(store: StoreAccess, path: Path | str, plan: HoldoutPlan) -> HoldoutLoad:
    """A universe CSV loaded with a holdout drawn per org and campaign."""
    rows = parse_universe(Path(path))
    if not rows:
        raise InputError(f"{Path(path).name} lists no voter; nothing loaded")
    load_id, at = rows[0][5], rows[0][6]
    store.insert(
        "universe_staging", STAGING_COLUMNS, [[load_id, r[2], r[3], r[4], at] for r in rows]
    )
    attrs = _attributes(
        store,
        f"SELECT s.state AS state, s.voter_id AS voter_id, {_ATTRIBUTE_SQL} "
        f"FROM universe_staging AS s LEFT JOIN {_VOTERS} AS v "
        "ON s.state = v.state AND s.voter_id = v.voter_id "
        f"WHERE s.load_id = {string_literal(load_id)}",
    )
    return _draw(store, rows, attrs, plan)


def load_universe_where_holdout(
    store: StoreAccess, org_id: str, campaign_id: str, where: str, plan: HoldoutPlan
) -> HoldoutLoad:
    """A universe of the voters matching ``where``, loaded with a holdout."""
    if not org_id.strip() or not campaign_id.strip():
        raise InputError("--org and --campaign must not be empty")
    at, load_id = dt.datetime.now(dt.UTC), uuid.uuid4().hex
    attrs = _attributes(
        store,
        f"SELECT v.state AS state, v.voter_id AS voter_id, {_ATTRIBUTE_SQL} FROM "
        f"(SELECT *, toUInt8(1) AS on_file FROM voters FINAL WHERE ({check_where(where)})) AS v",
    )
    if not attrs:
        raise InputError("--where matches no voter; the universe was not replaced")
    rows = [
        [org_id.strip(), campaign_id.strip(), state, voter, "", load_id, at, ""]
        for state, voter in sorted(attrs)
    ]
    return _draw(store, rows, attrs, plan)
