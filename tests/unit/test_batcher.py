"""sinks.batcher: fixed offset ranges, stable tokens, flush rules."""

from __future__ import annotations

import pytest

from sinks.batcher import Batch, Batcher, batch_token


def span(batch: Batch) -> str:
    """A batch's token without its digest: topic, partition and offset range."""
    return batch.token.rsplit(":", 1)[0]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_is_a_function_of_the_offset_range_and_its_bytes() -> None:
    clock = Clock()
    a, b, other = Batcher(10, 1.0, clock), Batcher(10, 1.0, clock), Batcher(10, 1.0, clock)
    for batcher in (a, b):
        for off in range(5, 9):
            batcher.add("enriched", 1, off, "contact_events", [off], value=b"v%d" % off)
    # the same offsets with other bytes: what a broker that started again at 0 would give
    for off in range(5, 9):
        other.add("enriched", 1, off, "contact_events", [off], value=b"w%d" % off)
    ba, bb, bo = a.get("enriched", 1), b.get("enriched", 1), other.get("enriched", 1)
    assert ba is not None and bb is not None and bo is not None
    assert ba.token == bb.token  # a retry of the same batch: identical
    assert ba.token.startswith("enriched:1:5-8:") and ba.token != bo.token
    assert ba.token == batch_token("enriched", 1, 5, 8, ba.digest.hexdigest())
    assert ba.commit_offset == 9 and ba.row_count() == 4


def test_partitions_are_batched_separately() -> None:
    batcher = Batcher(10, 1.0, Clock())
    batcher.add("enriched", 0, 0, "contact_events", [0])
    batcher.add("enriched", 1, 3, "contact_events", [3])
    batcher.add("voters", 0, 9)  # a tombstone: offset counted, no row
    tokens = sorted(span(b) for b in batcher.pending())
    assert tokens == ["enriched:0:0-0", "enriched:1:3-3", "voters:0:9-9"]
    voters = batcher.get("voters", 0)
    assert voters is not None and voters.rows == {} and voters.commit_offset == 10


def test_due_when_full_or_old() -> None:
    clock = Clock()
    batcher = Batcher(3, 0.5, clock)
    for off in range(2):
        batcher.add("t", 0, off, "contact_events", [off])
    assert batcher.due() == []
    batcher.add("t", 0, 2, "contact_events", [2])
    assert [span(b) for b in batcher.due()] == ["t:0:0-2"]
    batcher.add("t", 1, 0, "contact_events", [0])
    clock.now += 0.49
    assert [span(b) for b in batcher.due()] == ["t:0:0-2"]
    clock.now += 0.02
    assert sorted(span(b) for b in batcher.due()) == ["t:0:0-2", "t:1:0-0"]


def test_done_forgets_and_next_batch_starts_after() -> None:
    batcher = Batcher(2, 1.0, Clock())
    first = batcher.add("t", 0, 0, "contact_events", [0])
    batcher.add("t", 0, 1, "contact_events", [1])
    batcher.done(first)
    assert batcher.pending() == []
    second = batcher.add("t", 0, 2, "contact_events", [2])
    assert span(second) == "t:0:2-2"


def test_offsets_must_advance() -> None:
    batcher = Batcher(5, 1.0, Clock())
    batcher.add("t", 0, 4, "contact_events", [4])
    with pytest.raises(ValueError, match="not after"):
        batcher.add("t", 0, 4, "contact_events", [4])


def test_a_batch_opened_by_a_message_that_waited_is_due_that_much_sooner() -> None:
    clock = Clock()
    batcher = Batcher(1000, 0.25, clock)
    waited = batcher.add("enriched", 0, 1, "contact_events", [1], waited=0.2)
    fresh = batcher.add("enriched", 1, 1, "contact_events", [1])
    clock.now += 0.06
    assert batcher.due() == [waited]
    # a message added to an open batch does not make it older
    later = batcher.add("enriched", 1, 2, "contact_events", [2], waited=5.0)
    assert later is fresh and not batcher.is_due(fresh)
