"""What the program changed: intention-to-treat and complier effects with confidence intervals.

Both come from a randomized holdout (sinks/holdout.py): the targeted voters (the universe less
its holdout) and the held-out voters were alike before the program, so after the election the
difference in their turnout is what the program caused.

- **ITT** (intention to treat): turnout of the targeted minus turnout of the holdout. The effect
  of *putting voters in the universe*, contacted or not; the number a budget decision needs.
- **CACE** (complier average causal effect; "the effect of a contact"): ITT divided by the
  difference in contact rates between the arms (Wald / instrumental variables, the holdout
  flag as the instrument, contact as take-up). The holdout is never contacted, so the divisor
  is the targeted arm's contact rate (one-sided noncompliance); a contact with a held-out voter
  (a *breach*) is subtracted, which keeps the estimate honest but widens it. It is the effect
  on the voters the program reached, not on the voters it could not reach.
- **naive**: turnout of the contacted minus the not-contacted (targeted arm): what programs
  usually report, and biased, because the people who answer the door are likelier voters.

Intervals are Wald intervals from the normal approximation: Neyman's variance of a difference
of means (unequal variances), and for the CACE the delta method with the covariance of turnout
and contact within each arm, which matches two-stage least squares' robust standard error.
Every estimate is a function of four counts per arm (people, voters, contacted, contacted
voters), so the views of sinks/ddl compute the same numbers in SQL (:func:`from_counts`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

LEVEL = 0.95
MIN_FIRST_STAGE = 0.01
"""Below this difference in contact rates no CACE is given (it would divide by ~zero)."""


@dataclass(frozen=True)
class Arm:
    """The four counts of one arm: people, voters (turned out), contacted, contacted voters."""

    n: int
    voted: int
    contacted: int
    contacted_voted: int

    @classmethod
    def of(cls, voted: npt.ArrayLike, contacted: npt.ArrayLike) -> Arm:
        y = np.asarray(voted, dtype=bool)
        d = np.asarray(contacted, dtype=bool)
        return cls(int(y.size), int(y.sum()), int(d.sum()), int((y & d).sum()))

    def __add__(self, other: Arm) -> Arm:
        return Arm(
            self.n + other.n,
            self.voted + other.voted,
            self.contacted + other.contacted,
            self.contacted_voted + other.contacted_voted,
        )

    @property
    def turnout(self) -> float:
        return self.voted / self.n if self.n else math.nan

    @property
    def contact_rate(self) -> float:
        return self.contacted / self.n if self.n else math.nan

    def variances(self) -> tuple[float, float, float]:
        """Sample variances of turnout and contact and their covariance (n - 1 divisor),
        divided by n: the variance of each mean and their covariance."""
        n = self.n
        if n < 2:
            return math.nan, math.nan, math.nan
        y, d = self.turnout, self.contact_rate
        var_y = n * y * (1 - y) / (n - 1)
        var_d = n * d * (1 - d) / (n - 1)
        cov = (self.contacted_voted - n * y * d) / (n - 1)
        return var_y / n, var_d / n, cov / n


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float
    low: float
    high: float

    @classmethod
    def normal(cls, value: float, se: float, level: float = LEVEL) -> Estimate:
        z = NormalDist().inv_cdf(0.5 + level / 2)
        return cls(value, se, value - z * se, value + z * se)

    def covers(self, truth: float) -> bool:
        return self.low <= truth <= self.high


NAN = Estimate(math.nan, math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class Effect:
    """One group's effect: the arms' counts and the three estimates."""

    targeted: Arm
    holdout: Arm
    itt: Estimate
    cace: Estimate
    first_stage: Estimate
    naive: float

    @property
    def breaches(self) -> int:
        return self.holdout.contacted


def effect(targeted: Arm, holdout: Arm, level: float = LEVEL) -> Effect:
    """ITT, CACE and the naive difference for one group's arms."""
    vy_t, vd_t, c_t = targeted.variances()
    vy_c, vd_c, c_c = holdout.variances()
    itt_value = targeted.turnout - holdout.turnout
    itt_var = vy_t + vy_c
    fs_value = targeted.contact_rate - holdout.contact_rate
    fs_var = vd_t + vd_c
    itt = Estimate.normal(itt_value, math.sqrt(itt_var), level) if itt_var >= 0 else NAN
    first = Estimate.normal(fs_value, math.sqrt(fs_var), level) if fs_var >= 0 else NAN
    cace = NAN
    if fs_value >= MIN_FIRST_STAGE and not math.isnan(itt_var):
        lam = itt_value / fs_value
        var = (itt_var + lam**2 * fs_var - 2 * lam * (c_t + c_c)) / fs_value**2
        cace = Estimate.normal(lam, math.sqrt(max(var, 0.0)), level)
    return Effect(targeted, holdout, itt, cace, first, naive(targeted))


def naive(targeted: Arm) -> float:
    """Turnout of the contacted minus the not contacted, within the targeted arm."""
    not_contacted = targeted.n - targeted.contacted
    if targeted.contacted == 0 or not_contacted == 0:
        return math.nan
    return (
        targeted.contacted_voted / targeted.contacted
        - (targeted.voted - targeted.contacted_voted) / not_contacted
    )


def from_counts(counts: Mapping[str, int], level: float = LEVEL) -> Effect:
    """An Effect from the counts a view returns (``n_targeted``, ``voted_targeted``, ...)."""

    def arm(name: str) -> Arm:
        return Arm(
            int(counts[f"n_{name}"]),
            int(counts[f"voted_{name}"]),
            int(counts[f"contacted_{name}"]),
            int(counts[f"contacted_voted_{name}"]),
        )

    return effect(arm("targeted"), arm("holdout"), level)


def arms_by(
    groups: Iterable[Hashable],
    held_out: npt.ArrayLike,
    voted: npt.ArrayLike,
    contacted: npt.ArrayLike,
) -> dict[Hashable, tuple[Arm, Arm]]:
    """(targeted, holdout) counts per group value, one pass over the voters."""
    keys = list(groups)
    h = np.asarray(held_out, dtype=bool)
    y = np.asarray(voted, dtype=bool)
    d = np.asarray(contacted, dtype=bool)
    codes, labels = _codes(keys)
    out: dict[Hashable, tuple[Arm, Arm]] = {}
    size = len(labels)
    for arm_mask, slot in ((~h, 0), (h, 1)):
        c = codes[arm_mask]
        n = np.bincount(c, minlength=size)
        v = np.bincount(c, weights=y[arm_mask], minlength=size)
        k = np.bincount(c, weights=d[arm_mask], minlength=size)
        kv = np.bincount(c, weights=(y & d)[arm_mask], minlength=size)
        for j, label in enumerate(labels):
            arm = Arm(int(n[j]), int(v[j]), int(k[j]), int(kv[j]))
            pair = out.get(label, (Arm(0, 0, 0, 0), Arm(0, 0, 0, 0)))
            out[label] = (arm, pair[1]) if slot == 0 else (pair[0], arm)
    return out


def _codes(keys: list[Hashable]) -> tuple[npt.NDArray[np.intp], list[Hashable]]:
    index: dict[Hashable, int] = {}
    codes = np.fromiter((index.setdefault(k, len(index)) for k in keys), np.intp, len(keys))
    return codes, list(index)


def effects_by(
    groups: Iterable[Hashable],
    held_out: npt.ArrayLike,
    voted: npt.ArrayLike,
    contacted: npt.ArrayLike,
    level: float = LEVEL,
) -> dict[Hashable, Effect]:
    """The effect in each group (a pre-treatment attribute: channel planned, race, county)."""
    return {
        g: effect(t, c, level) for g, (t, c) in arms_by(groups, held_out, voted, contacted).items()
    }
