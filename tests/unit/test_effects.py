"""The effect estimators: by hand on small counts, and against planted effects over many seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldstream.effects.coverage import OVERALL, run, table
from fieldstream.effects.estimate import Arm, Estimate, effect, effects_by, from_counts, naive
from fieldstream.effects.synthetic import Plan, draw


def test_itt_by_hand() -> None:
    # targeted: 1000 people, 600 voted; holdout: 100 people, 50 voted
    e = effect(Arm(1000, 600, 300, 210), Arm(100, 50, 0, 0))
    assert e.itt.value == pytest.approx(0.1)
    se = math.sqrt(0.6 * 0.4 / 999 + 0.5 * 0.5 / 99)
    assert e.itt.se == pytest.approx(se)
    assert e.itt.low == pytest.approx(0.1 - 1.959964 * se, rel=1e-6)


def test_cace_is_itt_over_the_contact_rate_with_the_delta_method() -> None:
    t, c = Arm(1000, 600, 300, 210), Arm(100, 50, 0, 0)
    e = effect(t, c)
    assert e.first_stage.value == pytest.approx(0.3)
    assert e.cace.value == pytest.approx(0.1 / 0.3)
    lam = 0.1 / 0.3
    var_y = 0.6 * 0.4 / 999 + 0.5 * 0.5 / 99
    var_d = 0.3 * 0.7 / 999
    cov = (210 - 1000 * 0.6 * 0.3) / 999 / 1000
    expected = math.sqrt((var_y + lam**2 * var_d - 2 * lam * cov) / 0.3**2)
    assert e.cace.se == pytest.approx(expected)


def test_a_breach_lowers_the_first_stage_and_is_counted() -> None:
    e = effect(Arm(1000, 600, 300, 210), Arm(100, 50, 10, 8))
    assert e.breaches == 10
    assert e.first_stage.value == pytest.approx(0.3 - 0.1)


def test_no_contacts_give_no_cace() -> None:
    e = effect(Arm(1000, 600, 0, 0), Arm(100, 50, 0, 0))
    assert math.isnan(e.cace.value) and math.isnan(e.naive)
    assert not math.isnan(e.itt.value)


def test_naive_compares_contacted_with_not_contacted() -> None:
    assert naive(Arm(1000, 600, 300, 210)) == pytest.approx(210 / 300 - 390 / 700)


def test_from_counts_reads_a_views_row() -> None:
    row = {
        "n_targeted": 1000, "voted_targeted": 600, "contacted_targeted": 300,
        "contacted_voted_targeted": 210, "n_holdout": 100, "voted_holdout": 50,
        "contacted_holdout": 0, "contacted_voted_holdout": 0,
    }  # fmt: skip
    assert from_counts(row) == effect(Arm(1000, 600, 300, 210), Arm(100, 50, 0, 0))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans(), st.booleans(), st.booleans())))
def test_arms_by_group_match_counting_each_group(
    rows: list[tuple[str, bool, bool, bool]],
) -> None:
    g = np.array([r[0] for r in rows], dtype=object)
    h, y, d = (np.array([r[i] for r in rows], dtype=bool) for i in (1, 2, 3))
    found = effects_by(g, h, y, d)
    assert set(found) == set(g.tolist())
    for value, est in found.items():
        m = g == value
        assert est.targeted == Arm.of(y[m & ~h], d[m & ~h])
        assert est.holdout == Arm.of(y[m & h], d[m & h])


def test_estimate_covers() -> None:
    e = Estimate.normal(0.05, 0.01)
    assert e.covers(0.06) and not e.covers(0.08)


def test_the_planted_program_is_reproducible_from_its_seed() -> None:
    a, b = draw(Plan(voters=3000), 5), draw(Plan(voters=3000), 5)
    assert (a.held_out == b.held_out).all() and (a.voted == b.voted).all()
    assert not (draw(Plan(voters=3000), 6).held_out == a.held_out).all()
    assert a.contacted[a.held_out].sum() == 0  # no breach planned
    assert a.held_out.mean() == pytest.approx(0.1, abs=0.001)


@pytest.fixture(scope="module")
def coverage() -> dict[tuple[str, str], dict[str, object]]:
    """200 programs of 8,000 voters (10% held out, 3% breached): about 6 s."""
    rows = table(run(Plan(voters=8000, holdout=0.1, breach=0.03), range(200)))
    return {(str(r["dimension"]), str(r["value"])): r for r in rows}


def test_intervals_cover_the_planted_effect_at_about_95_percent(
    coverage: dict[tuple[str, str], dict[str, object]],
) -> None:
    # 200 seeds: a true 95% rate lands in 0.91..0.98 with probability ~0.99
    for key, row in coverage.items():
        for name in ("itt_coverage", "cace_coverage"):
            value = row[name]
            assert isinstance(value, float)
            assert 0.90 <= value <= 0.985, (key, name, value)


def test_estimates_are_unbiased_and_the_naive_comparison_is_not(
    coverage: dict[tuple[str, str], dict[str, object]],
) -> None:
    row = coverage[OVERALL]
    cace_bias, naive_bias, se = row["cace_bias"], row["naive_bias"], row["cace_se"]
    assert isinstance(cace_bias, float) and isinstance(naive_bias, float)
    assert isinstance(se, float)
    # the mean of 200 estimates sits within ~3 standard errors of the mean of the truth
    assert abs(cace_bias) < 3 * se / math.sqrt(200)
    # programs reach likely voters: the naive difference overstates the effect many times over
    assert naive_bias > 0.1
    for channel in ("door", "phone", "text"):
        assert coverage[("channel", channel)]["naive_bias"] > 0.1  # type: ignore[operator]
