"""PeerView: a group pooled once answers as each canvasser's checks against its peers computed
one by one (stats.rate_z and stats.peer_chi2 on the explicit list of the others)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.quality.peers import PeerBook, PeerView, Tally
from streams.quality.policy import QualityPolicy
from streams.quality.stats import RatePool, dispersion, peer_chi2, pool, rate_z, without

# small minimums, so that generated groups reach every check
POL = QualityPolicy(
    min_peers=2, min_peer_contacts=3, rate_test_min=3, support_test_min=3, result_test_min=3
)
RESULTS = ["canvassed", "not_home", "refused", "other"]


@st.composite
def tallies(draw: st.DrawFn) -> dict[str, Tally]:
    out = {}
    for i in range(draw(st.integers(1, 12))):
        attempts = draw(st.integers(0, 40))
        contacts = draw(st.integers(0, attempts))
        ids = draw(st.integers(0, contacts))
        levels = draw(st.lists(st.integers(1, 5), min_size=ids, max_size=ids))
        rest = draw(
            st.lists(
                st.sampled_from(RESULTS[1:]),
                min_size=attempts - contacts,
                max_size=attempts - contacts,
            )
        )
        out[f"c{i}"] = Tally(
            attempts,
            contacts,
            ids,
            Counter(str(level) for level in levels),
            Counter(["canvassed"] * contacts + rest),
        )
    return out


def expected(group: dict[str, Tally], canvasser: str) -> dict[str, tuple[float, bool]]:
    """Each peer check's unrounded figure and whether it fired, the others listed one by one."""
    me = group[canvasser]
    peers = [t for c, t in group.items() if c != canvasser and t.attempts >= POL.min_peer_contacts]
    out: dict[str, tuple[float, bool]] = {}
    for name, k, n, pairs in (
        ("contact_rate", me.contacts, me.attempts, [(t.contacts, t.attempts) for t in peers]),
        ("id_rate", me.ids, me.contacts, [(t.ids, t.contacts) for t in peers]),
    ):
        pairs = [(a, b) for a, b in pairs if b > 0]
        if n >= POL.rate_test_min and len(pairs) >= POL.min_peers:
            z = rate_z(k, n, pairs, POL.min_peer_sd)[0]
            out[name] = (z, z >= POL.rate_z)
    for name, own, others, minimum in (
        ("support_levels", me.support, [t.support for t in peers], POL.support_test_min),
        ("results", me.results, [t.results for t in peers], POL.result_test_min),
    ):
        if sum(own.values()) >= minimum and len(others) >= POL.min_peers:
            _stat, df, _phi, p, distance = peer_chi2(own, others, min_peer_n=minimum)
            if df:
                out[name] = (p, p < POL.dist_alpha and distance >= POL.dist_min_tvd)
    return out


@settings(max_examples=200, deadline=None)
@given(tallies())
def test_a_view_answers_as_the_checks_against_each_ones_peers_listed_one_by_one(group):
    view = PeerView(group, POL.min_peer_contacts)
    for canvasser in group:
        want = expected(group, canvasser)
        got = {r.check: r for r in view.checks(canvasser, "phone", POL)}
        assert set(got) == set(want)
        for name, (figure, fired) in want.items():
            # the view rounds z to 2 places; the p-values are its own
            assert got[name].value == pytest.approx(figure, abs=0.0051 if "rate" in name else 1e-9)
            assert got[name].fired == fired


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=2, max_size=30))
def test_a_rate_pool_less_one_of_its_pairs_gives_the_z_of_the_others(pairs):
    pairs = [(min(k, n), n) for k, n in pairs]
    rates = RatePool(pairs)
    for i, own in enumerate(pairs):
        others = [(k, n) for j, (k, n) in enumerate(pairs) if j != i and n > 0]
        if not others or own[1] == 0:
            continue
        got = rates.rate_z(own[0], own[1], own, 0.02)
        assert got == pytest.approx(rate_z(own[0], own[1], others, 0.02), rel=1e-9, abs=1e-12)
    # a canvasser outside the pool is compared with all of it
    if len(rates):
        assert rates.rate_z(3, 10, None, 0.02) == pytest.approx(
            rate_z(3, 10, [p for p in pairs if p[1] > 0], 0.02), rel=1e-9, abs=1e-12
        )


@given(st.lists(st.dictionaries(st.sampled_from(RESULTS), st.integers(0, 9)), min_size=1))
def test_the_pool_less_one_of_its_counts_is_the_pool_of_the_others(counts):
    everyone = pool(counts)
    for i, part in enumerate(counts):
        assert without(everyone, part) == {
            c: v for c, v in pool(counts[:i] + counts[i + 1 :]).items() if v
        }
    assert dispersion(counts) >= 1.0


def test_the_book_makes_a_view_once_per_state_of_the_group():
    book = PeerBook()
    group = ("o", "c", "door", "2026-10-03")
    book.groups[group] = {"a": Tally(10, 3, 1)}
    book._size[group] = 10
    first = book.view(group, 3)
    assert book.view(group, 3) is first  # many canvassers judged in a row: one view
    book._size[group] = 11  # a contact was added
    assert book.view(group, 3) is not first
    assert book.view(group, 4) is not book.view(group, 3)
