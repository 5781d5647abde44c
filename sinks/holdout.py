"""Randomized holdouts of a universe: who is held out, reproducibly, balanced across strata.

A holdout is the control group of a field experiment: a random share of the universe the
program never contacts, so that after the election the turnout of the targeted and the
held-out voters can be compared honestly (fieldstream/effects). This module only decides who is
held out; the universe loader records it (sinks/loaders.py) and the exports leave them out.

How, and why this way:

- **Reproducible from the seed alone.** Each voter's place in the draw is a keyed hash
  (BLAKE2b, keyed by the seed) of ``state:voter_id``, never the order of the input file: the same
  universe with the same seed gives the same holdout however its rows are sorted, on any
  machine, years later. The seed, share, strata and :data:`METHOD` are stored with the universe.
- **Balanced across strata.** Voters are grouped by their stratum (e.g. precinct and race), the
  strata put in a seeded order, the voters of each stratum in their hash order, and the whole
  line sampled systematically from a seeded start: voter ``i`` is held out when
  ``floor(u + (i + 1) p) > floor(u + i p)``. Every stratum of ``n`` voters then holds out
  ``floor(n p)`` or ``ceil(n p)`` of them, and the whole universe ``floor(u + N p)``; which
  strata round up is itself random. Every voter has exactly probability ``p`` of being held
  out (over the start ``u``), so plain differences of means stay unbiased.
- **Exact arithmetic.** ``p`` and ``u`` are fractions, so no float rounding moves a voter.

Why our own code: sklearn's ``StratifiedShuffleSplit`` and pandas' ``groupby().sample`` depend on
the input order and round per stratum (a universe of many small strata would hold out far more
or far less than the share); the rule above is short and testable.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from core.errors import InputError

METHOD = "blake2b-systematic-v1"
"""Names the assignment rule; stored with each holdout so a later rule never rewrites one."""

STRATA = ("precinct", "county", "turf", "race", "ethnicity", "sex", "age_band")
"""What a holdout can be stratified by: universe and voter-file columns."""

MAX_SHARE = Fraction(1, 2)


@dataclass(frozen=True)
class HoldoutPlan:
    """How a campaign's holdout was drawn: enough to draw it again."""

    share: Fraction
    seed: int
    strata: tuple[str, ...] = ()
    method: str = METHOD

    @classmethod
    def parse(cls, share: float | str, seed: int, strata: str | Sequence[str] = ()) -> HoldoutPlan:
        """A plan from command-line values; InputError naming what is wrong."""
        try:
            p = Fraction(str(share)).limit_denominator(1_000_000)
        except (ValueError, ZeroDivisionError) as exc:
            raise InputError(f"--holdout {share!r} is not a share such as 0.1") from exc
        if not 0 < p <= MAX_SHARE:
            raise InputError(f"--holdout {share} must be above 0 and at most {float(MAX_SHARE)}")
        if not 0 <= seed < 2**63:
            raise InputError("--seed must be a whole number from 0 to 2**63 - 1")
        names = [s.strip() for s in strata.split(",")] if isinstance(strata, str) else strata
        names = [s for s in names if s]
        unknown = [s for s in names if s not in STRATA]
        if unknown:
            raise InputError(f"--stratify: {', '.join(unknown)} is not one of {', '.join(STRATA)}")
        if len(set(names)) != len(names):
            raise InputError("--stratify names a column twice")
        return cls(p, seed, tuple(names))

    def describe(self) -> str:
        by = ", ".join(self.strata) or "nothing"
        return f"{float(self.share):g} held out, seed {self.seed}, stratified by {by}"


def _key(seed: int, text: str) -> bytes:
    return hashlib.blake2b(
        text.encode("utf-8"), digest_size=16, key=seed.to_bytes(8, "big")
    ).digest()


def start(seed: int) -> Fraction:
    """The systematic draw's start ``u`` in [0, 1), a function of the seed alone."""
    return Fraction(int.from_bytes(_key(seed, "\x00start"), "big"), 2**128)


def stratum_label(values: Sequence[str]) -> str:
    """How a stratum is written in the store: its values joined by `` | ``."""
    return " | ".join(values)


def assign(
    keys: Sequence[str], strata: Sequence[Hashable], share: Fraction, seed: int
) -> list[bool]:
    """Held out or not, per voter, in the order given.

    ``keys`` identify voters (``state:voter_id``, unique); ``strata`` give each voter's stratum
    (any hashable value, e.g. a tuple of precinct and race; all equal for no stratification).
    """
    if len(keys) != len(strata):
        raise InputError("every voter needs a stratum")
    if not 0 < share <= MAX_SHARE:
        raise InputError(f"the holdout share must be above 0 and at most {float(MAX_SHARE)}")
    if len(set(keys)) != len(keys):
        raise InputError("a voter is listed twice in the universe")
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, s in enumerate(strata):
        groups[s].append(i)
    # strata in a seeded order (which ones round up is random), voters by their keyed hash
    order = sorted(groups, key=lambda s: _key(seed, "\x01" + repr(s)))
    # floor(u + k p) in integers: u = c / 2**128, p = a / b
    u, a, b = start(seed), share.numerator, share.denominator
    den = b * u.denominator
    base, step = u.numerator * b, a * u.denominator
    out = [False] * len(keys)
    before = base // den  # floor(u + 0 p)
    position = 0
    for s in order:
        for i in sorted(groups[s], key=lambda i: _key(seed, keys[i])):
            position += 1
            after = (base + position * step) // den
            out[i] = after > before
            before = after
    return out


def balance(strata: Sequence[Hashable], held: Sequence[bool]) -> dict[Hashable, tuple[int, int]]:
    """Per stratum: (voters, held out); what the balance tests and the load summary show."""
    out: dict[Hashable, list[int]] = defaultdict(lambda: [0, 0])
    for s, h in zip(strata, held, strict=True):
        out[s][0] += 1
        out[s][1] += int(h)
    return {s: (n, k) for s, (n, k) in out.items()}
