"""The peer checks and their statistics: contact and ID rates, support levels, results."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from streams.quality.model import Obs
from streams.quality.peers import PeerBook, Tally, peer_checks
from streams.quality.policy import QualityPolicy
from streams.quality.stats import dispersion, peer_chi2, rate_z, tvd

POL = QualityPolicy()
GROUP = ("o", "c", "door", "2026-10-03")


def door(i: int, canvasser: str, result: str, level: int | None = None) -> Obs:
    return Obs(
        f"{canvasser}-{i}",
        "o",
        "c",
        "door",
        canvasser,
        1_791_000_000.0 + i * 120,
        result,
        support_level=level,
        has_responses=level is not None,
    )


def shift(
    rng: random.Random,
    canvasser: str,
    n: int,
    p_contact: float,
    p_id: float,
    lean: tuple[float, ...],
) -> list[Obs]:
    out = []
    for i in range(n):
        if rng.random() < p_contact:
            level = rng.choices(range(1, 6), weights=lean)[0] if rng.random() < p_id else None
            out.append(door(i, canvasser, "canvassed", level))
        else:
            out.append(door(i, canvasser, rng.choice(["not_home"] * 8 + ["refused"])))
    return out


def book(rng: random.Random, honest: int = 10, n: int = 60) -> PeerBook:
    """Honest canvassers whose rates and leans differ as turfs do."""
    b = PeerBook()
    for k in range(honest):
        lean = tuple(rng.gammavariate(30 * w, 1) for w in (0.45, 0.25, 0.15, 0.08, 0.07))
        for o in shift(rng, f"h{k}", n, rng.uniform(0.12, 0.32), rng.uniform(0.7, 0.9), lean):
            b.add(GROUP, o)
    return b


def fired(results: list) -> set[str]:
    return {r.check for r in results if r.fired}


class TestStats:
    def test_rate_z_widens_by_the_peers_spread(self):
        tight = [(20, 100)] * 9
        spread = [(10, 100), (15, 100), (20, 100), (25, 100), (30, 100), (20, 100)]
        z_tight, p0, tau2 = rate_z(35, 100, tight)
        z_spread, _, tau2_spread = rate_z(35, 100, spread)
        assert p0 == pytest.approx(0.2)
        assert tau2 == 0.0 and tau2_spread > 0
        assert z_tight > z_spread > 0

    def test_rate_z_floor_and_robustness_to_cheating_peers(self):
        peers = [(20, 100)] * 6 + [(80, 100)] * 2  # a quarter of the peers cheat
        z, p0, tau2 = rate_z(70, 100, peers, min_sd=0.05)
        assert p0 == pytest.approx(0.2)  # the median, not pulled up by the cheats
        assert tau2 == pytest.approx(0.05**2)
        assert z > 7

    def test_chi2_finds_a_skew_and_measures_it(self):
        peers = [Counter({"1": 9, "2": 5, "3": 3, "4": 2, "5": 1}) for _ in range(6)]
        skewed = Counter({"1": 38, "3": 2})
        _, df, phi, p, distance = peer_chi2(skewed, peers)
        assert df == 4 and phi == 1.0  # identical peers show no spread
        assert p < 1e-5 and distance == pytest.approx(0.5, abs=1e-3)
        _, _, _, p_alike, d_alike = peer_chi2(
            Counter({"1": 9, "2": 5, "3": 3, "4": 2, "5": 1}), peers
        )
        assert p_alike > 0.5 and d_alike == 0

    def test_dispersion_grows_with_honest_spread(self):
        alike = [Counter({"1": 10, "2": 10}) for _ in range(6)]
        apart = [Counter({"1": 18, "2": 2}), Counter({"1": 2, "2": 18})] * 3
        assert dispersion(alike) == 1.0
        assert dispersion(apart) > 10
        assert tvd(Counter({"a": 1}), Counter({"b": 3})) == 1.0


class TestPeerChecks:
    def test_honest_canvassers_pass(self):
        b = book(random.Random(4))
        for k in range(10):
            assert fired(peer_checks(b.groups[GROUP], f"h{k}", "door", POL)) == set()

    def test_invented_conversations_skewed_to_one_answer_fire(self):
        rng = random.Random(5)
        b = book(rng, n=100)
        for o in shift(rng, "cheat", 60, 0.7, 0.95, (0.95, 0.02, 0.01, 0.01, 0.01)):
            b.add(GROUP, o)
        results = b.checks(GROUP, "cheat", "door", POL)
        assert {"contact_rate", "contact_rate_high", "results"} <= fired(results)
        support = next(r for r in results if r.check == "support_levels")
        assert support.detail["most_common"] == "1" and (support.value or 1) < 0.01

    def test_a_low_contact_rate_is_not_fabrication(self):
        rng = random.Random(6)
        b = book(rng)
        for o in shift(rng, "slow", 60, 0.02, 0.8, (0.45, 0.25, 0.15, 0.08, 0.07)):
            b.add(GROUP, o)
        results = peer_checks(b.groups[GROUP], "slow", "door", POL)
        rate = next(r for r in results if r.check == "contact_rate")
        assert (rate.value or 0) < 0 and not rate.fired

    def test_too_few_peers_or_contacts_no_test(self):
        rng = random.Random(7)
        few = book(rng, honest=POL.min_peers - 1)
        for o in shift(rng, "cheat", 40, 0.9, 0.95, (1, 0, 0, 0, 0.01)):
            few.add(GROUP, o)
        names = {r.check for r in peer_checks(few.groups[GROUP], "cheat", "door", POL)}
        assert names == {"contact_rate_high"}  # the absolute limit needs no peers
        b = book(rng)
        b.add(GROUP, door(0, "new", "canvassed", 1))
        assert peer_checks(b.groups[GROUP], "new", "door", POL) == []
        assert peer_checks(b.groups[GROUP], "nobody", "door", POL) == []

    def test_tally_counts(self):
        t = Tally()
        for o in (door(0, "k", "canvassed", 2), door(1, "k", "canvassed"), door(2, "k", "vacant")):
            t.add(o)
        assert (t.attempts, t.contacts, t.ids) == (3, 2, 1)
        assert t.support == Counter({"2": 1})
        assert t.results == Counter({"canvassed": 2, "other": 1})

    def test_old_days_are_forgotten(self):
        b = book(random.Random(8))
        b.drop_before("2026-10-04")
        assert b.groups == {}
