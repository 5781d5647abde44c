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
        self.app = SimpleNamespace(consumer_generation_id=1)

    def _new_offset(self, tp: Any) -> int | None:
        return -1  # faust's answer for the other topics

    def ack(self, message: Any) -> None:  # as faust's Consumer.ack: the message's offset
        self._acked[message.tp].append(message.offset)
        self._acked_index[message.tp].add(message.offset)


class Consumer(BatchDelivery, FaustConsumer):
    batch_topics = frozenset({RAW})


def deliver(c: Consumer, tp: TopicPartition, first: int, n: int) -> Any:
    msgs = [(b"v", b"k", tp.topic, tp.partition, o) for o in range(first, first + n)]
    message = c._batch_message(tp, msgs)
    assert isinstance(message.value, RawBatch) and message.value.messages is msgs
    assert message.offset == first + n - 1
    return message


def test_commits_the_end_of_the_acked_batches_in_delivery_order() -> None:
    c, tp = Consumer(), TopicPartition(RAW, 0)
    a, b, d = deliver(c, tp, 0, 10), deliver(c, tp, 10, 5), deliver(c, tp, 17, 3)  # a gap
    assert c._new_offset(tp) is None
    c.ack(b)
    assert c._new_offset(tp) is None, "b is acked but a is not: nothing may be committed"
    c.ack(a)
    assert c._new_offset(tp) == 15
    assert c._new_offset(tp) is None  # nothing new
    c.ack(d)
    assert c._new_offset(tp) == 20
    assert c._new_offset(TopicPartition(OTHER, 0)) == -1


def test_acks_from_before_a_seek_back_count_for_nothing() -> None:
    c, tp = Consumer(), TopicPartition(RAW, 0)
    old = deliver(c, tp, 0, 10)
    c._ranges.clear()  # what perform_seek does: the partition is read again from 0
    again = deliver(c, tp, 0, 20)
    c.ack(old)  # a stale batch finished after the seek
    assert c._new_offset(tp) is None, "the re-read batch 0-19 is not acked yet"
    c.ack(again)
    assert c._new_offset(tp) == 20


@given(
    sizes=st.lists(st.integers(1, 50), min_size=1, max_size=30),
    order=st.randoms(use_true_random=False),
)
def test_never_commits_past_an_unacked_batch(sizes: list[int], order: Any) -> None:
    c, tp = Consumer(), TopicPartition(RAW, 3)
    batches, first = [], 0
    for n in sizes:
        batches.append(deliver(c, tp, first, n))
        first += n
    acked: set[int] = set()
    committed = 0
    for i in order.sample(range(len(batches)), len(batches)):
        c.ack(batches[i])
        acked.add(i)
        new = c._new_offset(tp)
        prefix = 0
        while prefix in acked:
            prefix += 1
        want = batches[prefix - 1].offset + 1 if prefix else 0
        if new is not None:
            committed = new
        assert committed == want
    assert committed == first
