"""Dedupe by event id over a plain mapping: marks, repeats and expiry at the horizon."""

from __future__ import annotations

import pytest

from streams.logic.dedupe import DAY_MS, Dedupe

HORIZON_S = 3 * 24 * 3600
T0 = 1_800_000_000_000


def test_unseen_ids_are_not_duplicates_until_marked() -> None:
    d = Dedupe({}, HORIZON_S)
    assert not d.is_duplicate("a")
    assert d.mark_seen("a", T0)
    assert d.is_duplicate("a")
    assert not d.is_duplicate("b")


def test_marking_again_keeps_the_first_seen_time() -> None:
    seen: dict[str, int] = {}
    d = Dedupe(seen, HORIZON_S)
    d.mark_seen("a", T0)
    assert not d.mark_seen("a", T0 + DAY_MS)
    assert seen == {"a": T0}


def test_mark_all_returns_only_new_ids() -> None:
    d = Dedupe({"a": T0}, HORIZON_S)
    assert d.mark_all(["a", "b", "c", "b"], T0 + 1) == ["b", "c"]
    assert len(d) == 3


def test_an_id_is_a_duplicate_up_to_the_horizon_and_forgotten_after_it() -> None:
    seen: dict[str, int] = {}
    d = Dedupe(seen, HORIZON_S)
    d.mark_seen("old", T0)
    d.mark_seen("new", T0 + DAY_MS)
    at_horizon = T0 + 3 * DAY_MS
    assert d.expire(at_horizon) == []  # exactly the horizon old: still kept
    assert d.is_duplicate("old")
    assert d.expire(at_horizon + 1) == ["old"]
    assert not d.is_duplicate("old")
    assert d.is_duplicate("new")
    assert seen == {"new": T0 + DAY_MS}


def test_expired_lists_without_removing() -> None:
    seen = {"a": T0, "b": T0 + 10}
    d = Dedupe(seen, 60)
    assert sorted(d.expired(T0 + 60_005)) == ["a"]
    assert len(seen) == 2


def test_a_forgotten_id_can_be_accepted_again() -> None:
    d = Dedupe({}, 60)
    d.mark_seen("a", T0)
    d.expire(T0 + 61_000)
    assert d.mark_seen("a", T0 + 61_000)
    assert d.is_duplicate("a")


def test_the_horizon_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Dedupe({}, 0)
