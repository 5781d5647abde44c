"""Holdouts: reproducible from the seed, balanced across strata, each voter held out with p."""

from __future__ import annotations

import random
from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InputError
from sinks.holdout import METHOD, HoldoutPlan, assign, balance


def universe(n: int, seed: int = 1) -> tuple[list[str], list[tuple[str, str]]]:
    rng = random.Random(seed)
    keys = [f"ZZ:{i:07d}" for i in range(n)]
    strata = [(f"P{rng.randrange(40):02d}", rng.choice(["white", "black", "latino", "asian"]))
              for _ in range(n)]  # fmt: skip
    return keys, strata


def test_same_seed_same_holdout_whatever_the_row_order() -> None:
    keys, strata = universe(5000)
    first = dict(zip(keys, assign(keys, strata, Fraction(1, 10), 42), strict=True))
    rows = list(zip(keys, strata, strict=True))
    random.Random(9).shuffle(rows)
    shuffled = assign([k for k, _ in rows], [s for _, s in rows], Fraction(1, 10), 42)
    assert dict(zip([k for k, _ in rows], shuffled, strict=True)) == first


def test_another_seed_draws_another_holdout() -> None:
    keys, strata = universe(5000)
    a = assign(keys, strata, Fraction(1, 10), 1)
    b = assign(keys, strata, Fraction(1, 10), 2)
    assert sum(a) == pytest.approx(500, abs=60) and sum(b) == pytest.approx(500, abs=60)
    overlap = sum(x and y for x, y in zip(a, b, strict=True))
    assert overlap < 100  # independent draws share about 10% of 500


def test_every_stratum_holds_out_floor_or_ceil_of_its_share() -> None:
    keys, strata = universe(7919)
    held = assign(keys, strata, Fraction(1, 10), 7)
    for stratum, (n, k) in balance(strata, held).items():
        assert floor(n / 10) <= k <= ceil(n / 10), stratum
    assert floor(7919 / 10) <= sum(held) <= ceil(7919 / 10)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=30),
    share=st.fractions(min_value=Fraction(1, 100), max_value=Fraction(1, 2)),
    seed=st.integers(0, 2**63 - 1),
)
def test_balance_holds_for_any_strata_share_and_seed(
    sizes: list[int], share: Fraction, seed: int
) -> None:
    strata = [s for s, n in enumerate(sizes) for _ in range(n)]
    keys = [f"ZZ:{i}" for i in range(len(strata))]
    held = assign(keys, strata, share, seed)
    for n, k in balance(strata, held).values():
        assert floor(n * share) <= k <= ceil(n * share)
    total = len(strata) * share
    assert floor(total) <= sum(held) <= ceil(total)


def test_each_voter_is_held_out_with_the_share_over_seeds() -> None:
    """Over 2,000 seeds every voter's frequency is close to p (the estimators rely on it)."""
    keys, strata = universe(60, seed=3)
    counts = [0] * len(keys)
    for seed in range(2000):
        for i, h in enumerate(assign(keys, strata, Fraction(1, 5), seed)):
            counts[i] += h
    rates = [c / 2000 for c in counts]
    assert min(rates) > 0.16 and max(rates) < 0.24  # p = 0.2, sd of a rate ~0.009
    assert sum(rates) / len(rates) == pytest.approx(0.2, abs=0.005)


def test_unstratified_and_single_stratum_agree() -> None:
    keys, _ = universe(1000)
    plain = assign(keys, [()] * 1000, Fraction(1, 4), 5)
    assert plain == assign(keys, [0] * 1000, Fraction(1, 4), 5)


def test_plan_parses_command_line_values() -> None:
    plan = HoldoutPlan.parse("0.1", 12, "precinct, race")
    assert plan == HoldoutPlan(Fraction(1, 10), 12, ("precinct", "race"), METHOD)
    assert plan.describe() == "0.1 held out, seed 12, stratified by precinct, race"


@pytest.mark.parametrize(
    ("share", "seed", "strata", "message"),
    [
        ("0", 1, "", "above 0"),
        ("0.7", 1, "", "at most 0.5"),
        ("ten", 1, "", "is not a share"),
        ("0.1", -1, "", "--seed"),
        ("0.1", 1, "zip", "zip is not one of"),
        ("0.1", 1, "race,race", "twice"),
    ],
)
def test_plan_names_what_is_wrong(share: str, seed: int, strata: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        HoldoutPlan.parse(share, seed, strata)


def test_a_voter_listed_twice_is_refused() -> None:
    with pytest.raises(InputError, match="twice"):
        assign(["ZZ:1", "ZZ:1"], [0, 0], Fraction(1, 10), 1)
