"""sinks.ledger.StoredIds: a contact stored by another batch is dropped, a retried batch keeps
its own rows, warming reads the store, and old ids expire."""

from __future__ import annotations

import uuid

from sinks.ledger import StoredIds


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def ids(n: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))) for i in range(n)]


def test_another_batch_s_ids_are_dropped_and_a_retry_keeps_its_own() -> None:
    ledger = StoredIds(3600, Clock())
    first = ids(5)
    assert ledger.unstored(first, "tok-a") == ([0, 1, 2, 3, 4], [])
    ledger.add(first, "tok-a")
    # a redelivery with other offsets: another token, every id already stored (and sure:
    # this process stored them, its rollups got them)
    assert ledger.unstored(first, "tok-b") == ([], [])
    # the same batch retried (same token): kept whole, so the retry is identical
    assert ledger.unstored(first, "tok-a") == ([0, 1, 2, 3, 4], [])
    mixed = [first[0], "not-a-uuid", ids(7)[6]]
    assert ledger.unstored(mixed, "tok-c") == ([1, 2], [])
    ledger.add(mixed[1:], "tok-c")
    assert ledger.unstored(mixed, "tok-d") == ([], []) and len(ledger) == 7


def test_warm_reads_what_the_store_holds_and_ids_expire() -> None:
    clock = Clock()
    ledger = StoredIds(3600, clock)
    stored = ids(3)
    seen: list[str] = []

    def query(sql: str) -> list[list[str]]:
        seen.append(sql)
        return [[i, "tok-old"] for i in stored]

    assert ledger.warm(query) == 3
    assert "inserted_at >=" in seen[0]
    # stored before this process started: dropped, and named for their rollups to be fed
    assert ledger.unstored(stored, "tok-new") == ([], stored)
    # the same batch as before the restart (its own token) is kept whole
    assert ledger.unstored(stored, "tok-old") == ([0, 1, 2], [])
    ledger.make_sure(stored[:2])
    assert ledger.unstored(stored, "tok-new") == ([], stored[2:])
    clock.now += 1800
    ledger.add(ids(4)[3:], "tok-new")
    clock.now += 1801  # the warmed ids are past the horizon, the added one is not
    assert ledger.expire() == 3
    assert ledger.unstored(stored, "tok-new") == ([0, 1, 2], [])
    assert ledger.unstored(ids(4)[3:], "tok-other") == ([], [])
