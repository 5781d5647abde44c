"""Whole fetched batches (streams/batches.py): raw tuples out of aiokafka's partition records,
one message per batch, and commits by offset range that never pass an unacked batch."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from streams.batches import BatchDelivery, RawBatch, RawFetchResults, as_raw

RAW, OTHER = "contacts.raw", "changelog"


def fetch_result(tp: TopicPartition, first: int, values: list[bytes]) -> FetchResult:
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    for i, value in enumerate(values):
        builder.append(i, 1_700_000_000_000, b"k%d" % i, value, [])
    data = bytearray(builder.build())
    data[0:8] = first.to_bytes(8, "big")  # the batch's base offset
    records = PartitionRecords(tp, MemoryRecords(bytes(data)), [], first, None, None, True, 0)
    return FetchResult(tp, assignment=None, partition_records=records, backoff=0)


def test_partition_records_of_a_batch_topic_yield_raw_tuples() -> None:
    raw_tp, other_tp = TopicPartition(RAW, 1), TopicPartition(OTHER, 0)
    results = RawFetchResults({RAW}, {})
    results[raw_tp] = fetch_result(raw_tp, 40, [b"a", b"b", b"c"])
    results[other_tp] = fetch_result(other_tp, 0, [b"x"])
    got = list(results[raw_tp]._partition_records)
    assert got == [(b"a", b"k0", RAW, 1, 40), (b"b", b"k1", RAW, 1, 41), (b"c", b"k2", RAW, 1, 42)]
    other = list(results[other_tp]._partition_records)
    assert type(other[0]) is not tuple and other[0].value == b"x"  # untouched: ConsumerRecord
    assert as_raw(other_tp, other) == [(b"x", b"k0", OTHER, 0, 0)]


class FaustConsumer:
    """What BatchDelivery needs of faust's Consumer: its ack bookkeeping and _new_offset."""

    def __init__(self) -> None:
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._committed_offset: dict[Any, int | None] = {}
        self.app = SimpleNamespace(consumer_generation_id=1)

    def _new_offset(self, tp: Any) -> int | None:
        return -1  # faust's answer for the other topics

    def ack(self, message: Any) -> bool:  # as faust's Consumer.ack: the message's offset
        self._acked[message.tp].append(message.offset)
        self._acked_index[message.tp].add(message.offset)
        return True


class Consumer(BatchDelivery, FaustConsumer):
    batch_topics = frozenset({RAW})

    def __init__(self) -> None:
        super().__init__()
        self.rereads: list[tuple[Any, int]] = []

    def _reread(self, tp: Any, offset: int) -> None:
        self.rereads.append((tp, offset))


def deliver(c: Consumer, tp: TopicPartition, first: int, n: int) -> Any:
    msgs = [(b"v", b"k", tp.topic, tp.partition, o) for o in range(first, first + n)]
    message = c._batch_message(tp, msgs)
    assert isinstance(message.value, RawBatch) and message.value.messages is msgs
    assert message.offset == first + n - 1
    return message


def test_commits_the_end_of_what_was_processed_from_the_last_commit() -> None:
    c, tp = Consumer(), TopicPartition(RAW, 0)
    a, b, d = deliver(c, tp, 0, 10), deliver(c, tp, 10, 5), deliver(c, tp, 15, 3)
    assert c._new_offset(tp) is None
    c.ack(a)
    assert c._new_offset(tp) == 10
    assert c._new_offset(tp) is None  # nothing new
    c.ack(b)
    c.ack(d)
    assert c._new_offset(tp) == 18
    assert c._new_offset(TopicPartition(OTHER, 0)) == -1
    assert c.rereads == []


def test_a_batch_that_never_reached_the_agent_is_read_again() -> None:
    """Faust clears the agents' queues when it resumes the flow: a delivered batch may vanish."""
    c, tp = Consumer(), TopicPartition(RAW, 0)
    dropped, later = deliver(c, tp, 0, 10), deliver(c, tp, 10, 5)
    assert dropped.offset == 9
    c.ack(later)
    assert c._new_offset(tp) is None, "offsets 0-9 were never processed: nothing to commit"
    assert c.rereads == [(tp, 0)]
    assert c._new_offset(tp) is None and c.rereads == [(tp, 0)], "read again once at a time"
    again = deliver(c, tp, 0, 15)  # the re-read batch
    c.ack(again)
    assert c._new_offset(tp) == 15


@given(
    sizes=st.lists(st.integers(1, 50), min_size=1, max_size=30),
    order=st.randoms(use_true_random=False),
    dropped=st.sets(st.integers(0, 29), max_size=5),
)
def test_never_commits_an_offset_that_was_not_processed(
    sizes: list[int], order: Any, dropped: set[int]
) -> None:
    c, tp = Consumer(), TopicPartition(RAW, 3)
    batches, first = [], 0
    for n in sizes:
        batches.append(deliver(c, tp, first, n))
        first += n
    processed: set[int] = set()
    committed = 0
    for i in order.sample(range(len(batches)), len(batches)):
        if i in dropped:
            continue
        c.ack(batches[i])
        b = batches[i].value
        processed.update(range(b.first, b.last + 1))
        new = c._new_offset(tp)
        if new is not None:
            assert new > committed
            committed = new
        assert set(range(committed)) <= processed
    while committed in processed:
        committed += 1
    assert c._new_offset(tp) in (None, committed)
