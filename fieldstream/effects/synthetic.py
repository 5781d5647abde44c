"""A synthetic field program with a planted effect of contact, to test the estimators against.

Each voter has a baseline chance to vote (from age, race, precinct and habit), a planned channel
(door, phone or text: the plan assigns it before anyone is held out), and a chance to be reached
when targeted that *rises with the baseline*: programs reach the people most likely to vote
anyway, which is exactly why comparing contacted with not-contacted voters is biased. A contact
raises the chance to vote by a planted amount that varies by channel and by race. The holdout is
drawn by the real rule (sinks.holdout.assign, stratified by precinct and race) and, optionally,
breached: a share of held-out voters who would have been reached are contacted anyway.

Everything is a function of the seed (numpy's PCG64 and the holdout's keyed hash). The truth the
estimators must find is known per voter (``tau``, ``complier``), so :meth:`Program.true_itt` and
:meth:`Program.true_cace` give the effect actually planted in any group of this draw.

Why not producers/demo's voter file: that one writes a few thousand demo rows with Python's
``random``; the coverage runs draw hundreds of programs of tens of thousands of voters, so this
one is vectorised (numpy) and keeps the truth beside each voter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from sinks.holdout import assign

STATE = "ZZ"
CHANNELS = ("door", "phone", "text")
RACES = ("white", "black", "latino", "asian", "other")
RACE_SOURCES = ("self_reported", "bisg", "vendor_model")
COUNTIES = ("Alder", "Birch", "Cedar", "Dogwood")


def _default_effect() -> dict[str, float]:
    # turnout points a contact adds, by channel (the field's experiments: doors most, texts least)
    return {"door": 0.06, "phone": 0.025, "text": 0.01}


def _default_factor() -> dict[str, float]:
    return {"white": 1.0, "black": 1.5, "latino": 1.3, "asian": 1.0, "other": 1.0}


def _default_reach() -> dict[str, float]:
    return {"door": 0.30, "phone": 0.20, "text": 0.45}


@dataclass(frozen=True)
class Plan:
    """What to draw: the size of the program, its holdout and the planted effects."""

    voters: int = 20_000
    holdout: float = 0.1
    precincts: int = 40
    effect: Mapping[str, float] = field(default_factory=_default_effect)
    factor: Mapping[str, float] = field(default_factory=_default_factor)
    reach: Mapping[str, float] = field(default_factory=_default_reach)
    channel_share: tuple[float, float, float] = (0.4, 0.35, 0.25)
    selection: float = 1.0
    """How steeply the chance of being reached rises with the baseline (log-odds per log-odds)."""
    breach: float = 0.0
    """Share of held-out voters who would be reached and are contacted anyway."""


@dataclass
class Program:
    """One drawn program: per-voter arrays, the observed ones and the planted truth."""

    voter_id: npt.NDArray[np.str_]
    county: npt.NDArray[np.str_]
    precinct: npt.NDArray[np.str_]
    race: npt.NDArray[np.str_]
    race_source: npt.NDArray[np.str_]
    age: npt.NDArray[np.int64]
    sex: npt.NDArray[np.str_]
    channel: npt.NDArray[np.str_]
    held_out: npt.NDArray[np.bool_]
    contacted: npt.NDArray[np.bool_]
    voted: npt.NDArray[np.bool_]
    # the truth, never seen by an estimator
    baseline: npt.NDArray[np.float64]
    complier: npt.NDArray[np.bool_]
    tau: npt.NDArray[np.float64]
    breach_share: float = 0.0
    plan: Plan = field(default_factory=Plan)

    def _mask(self, mask: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.bool_]:
        return np.ones(self.voter_id.size, bool) if mask is None else mask

    def true_itt(self, mask: npt.NDArray[np.bool_] | None = None) -> float:
        """The planted ITT of this group: the mean of what targeting adds to each voter's
        chance (a complier gains tau, less what a breach would have given them anyway)."""
        m = self._mask(mask)
        return float(np.mean(self.complier[m] * self.tau[m]) * (1 - self.breach_share))

    def true_cace(self, mask: npt.NDArray[np.bool_] | None = None) -> float:
        """The planted effect of a contact on the voters a contact reaches (the compliers)."""
        m = self._mask(mask) & self.complier
        return float(np.mean(self.tau[m])) if m.any() else float("nan")

    def groups(self) -> dict[str, npt.NDArray[Any]]:
        """The pre-treatment attributes effects are broken down by."""
        return {"channel": self.channel, "race": self.race, "county": self.county}


def _logit(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    q = np.asarray(p, dtype=float)
    return np.log(q / (1 - q))


def _expit(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def population(n: int, rng: np.random.Generator, precincts: int = 40) -> dict[str, Any]:
    """Voters of state ZZ: county, precinct (segregated: race shares vary by precinct), race with
    its source, sex, age, and a baseline chance to vote; shared with the model's synthetic IDs."""
    p_county = rng.integers(0, len(COUNTIES), precincts)
    p_mix = rng.dirichlet([6.0, 2.5, 2.0, 0.8, 0.7], precincts)  # race shares per precinct
    p_turnout = rng.normal(0, 0.35, precincts)  # precinct habit, log-odds
    home = rng.integers(0, precincts, n)
    cum = np.cumsum(p_mix[home], axis=1)
    race_i = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, len(RACES) - 1)
    age = rng.integers(18, 91, n)
    sex = np.where(rng.random(n) < 0.52, "female", "male")
    race_shift = np.array([0.15, -0.1, -0.3, -0.35, -0.2])[race_i]
    habit = rng.normal(0, 1.0, n)
    logit = -0.2 + 0.025 * (age - 50) + race_shift + p_turnout[home] + habit
    names = np.array([f"P{i:03d}" for i in range(precincts)])
    return {
        "voter_id": np.char.add("ZZ", np.char.zfill(np.arange(1, n + 1).astype(str), 7)),
        "county": np.array(COUNTIES)[p_county[home]],
        "precinct": names[home],
        "race": np.array(RACES)[race_i],
        "race_source": np.array(RACE_SOURCES)[rng.choice(3, n, p=[0.5, 0.3, 0.2])],
        "age": age,
        "sex": sex,
        "baseline": _expit(logit),
        "precinct_index": home,
    }


def draw(plan: Plan, seed: int) -> Program:
    """One program drawn from ``plan`` with ``seed``: the holdout, contacts and turnout."""
    rng = np.random.default_rng(seed)
    pop = population(plan.voters, rng, plan.precincts)
    n, base = plan.voters, pop["baseline"]
    ch = rng.choice(len(CHANNELS), n, p=list(plan.channel_share))
    channel = np.array(CHANNELS)[ch]
    reach = np.array([plan.reach[c] for c in CHANNELS])[ch]
    centre = _logit(base) - float(np.mean(_logit(base)))
    complier = rng.random(n) < _expit(_logit(reach) + plan.selection * centre)
    effect = np.array([plan.effect[c] for c in CHANNELS])[ch]
    factor = np.vectorize(lambda r: plan.factor.get(r, 1.0))(pop["race"])
    tau = np.minimum(effect * factor, 1 - base)  # a chance cannot pass 1
    keys = [f"{STATE}:{v}" for v in pop["voter_id"]]
    strata = list(zip(pop["precinct"].tolist(), pop["race"].tolist(), strict=True))
    share = Fraction(str(plan.holdout)).limit_denominator(1_000_000)
    held_out = np.array(assign(keys, strata, share, seed), dtype=bool)
    program = Program(
        voter_id=pop["voter_id"],
        county=pop["county"],
        precinct=pop["precinct"],
        race=pop["race"],
        race_source=pop["race_source"],
        age=pop["age"],
        sex=pop["sex"],
        channel=channel,
        held_out=held_out,
        contacted=np.zeros(n, bool),
        voted=np.zeros(n, bool),
        baseline=base,
        complier=complier,
        tau=tau,
        breach_share=plan.breach,
        plan=plan,
    )
    return carry_out(program, held_out, rng)


def carry_out(
    program: Program, held_out: npt.NDArray[np.bool_], rng: np.random.Generator
) -> Program:
    """The program run with ``held_out`` as its holdout (the draw's, or one the universe
    loader drew): who is contacted (compliers targeted, and breaches) and who votes."""
    n = held_out.size
    breach = held_out & program.complier & (rng.random(n) < program.breach_share)
    program.held_out = held_out
    program.contacted = (~held_out & program.complier) | breach
    program.voted = rng.random(n) < program.baseline + program.contacted * program.tau
    return program
