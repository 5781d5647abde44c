"""sinks.consumer backpressure: a failed insert holds its batch whole and pauses its partition
(sought back past the batch) without blocking; the retry is identical and, once it lands, the
offset is committed and the partition resumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import TopicPartition

from core.errors import StoreError
from sinks.consumer import SinkConsumer
from sinks.routes import Routes


class FakeKafka:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, int, int]]]] = []

    def _log(self, what: str, tps: list[TopicPartition]) -> None:
        self.calls.append((what, [(tp.topic, tp.partition, tp.offset) for tp in tps]))

    def pause(self, tps: list[TopicPartition]) -> None:
        self._log("pause", tps)

    def seek(self, tp: TopicPartition) -> None:
        self._log("seek", [tp])

    def resume(self, tps: list[TopicPartition]) -> None:
        self._log("resume", tps)

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self._log("commit", offsets)


class Store:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inserts: list[tuple[str, list[list[Any]], str]] = []

    def __call__(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], token: str
    ) -> None:
        self.inserts.append((table, [list(r) for r in rows], token))
        if self.failures:
            self.failures -= 1
            raise StoreError("the store is down")


def test_a_failed_insert_pauses_the_partition_and_retries_the_same_batch() -> None:
    now = [100.0]
    store = Store(failures=2)
    routes = Routes(columns={"t": ["x"]})
    sink = SinkConsumer({}, routes, store, batch_rows=10, flush_interval_s=1, clock=lambda: now[0])
    kafka = FakeKafka()
    sink._consumer = kafka  # type: ignore[assignment]
    for off in range(3):
        sink.batcher.add("enriched", 0, off, "t", [off], value=b"%d" % off)
    batch = sink.batcher.get("enriched", 0)
    assert batch is not None

    assert sink.flush(batch) is False
    assert kafka.calls == [("pause", [("enriched", 0, 3)]), ("seek", [("enriched", 0, 3)])]
    assert ("enriched", 0) in sink.held and sink.batcher.get("enriched", 0) is batch
    sink.retry_held()  # not yet: the backoff has not passed
    assert len(store.inserts) == 1
    now[0] += 60
    sink.retry_held()  # fails again: still held, no second pause
    assert len(store.inserts) == 2 and [c[0] for c in kafka.calls] == ["pause", "seek"]
    now[0] += 60
    sink.retry_held()  # lands: committed past the batch, resumed, forgotten
    assert [c[0] for c in kafka.calls] == ["pause", "seek", "commit", "resume"]
    assert kafka.calls[2] == ("commit", [("enriched", 0, 3)])
    assert not sink.held and sink.batcher.get("enriched", 0) is None
    assert len({(tuple(map(tuple, rows)), token) for _, rows, token in store.inserts}) == 1


def test_pending_batches_of_a_lane_are_written_together_and_held_together() -> None:
    now = [100.0]
    store = Store(failures=1)
    routes = Routes(columns={"t": ["x"]})
    sink = SinkConsumer(
        {},
        routes,
        store,
        batch_rows=10,
        flush_interval_s=1,
        clock=lambda: now[0],
        limits={"bulk": (1000, 5.0)},
    )
    kafka = FakeKafka()
    sink._consumer = kafka  # type: ignore[assignment]
    sink.batcher.add("enriched", 0, 7, "t", [1], value=b"a")
    now[0] += 0.5
    sink.batcher.add("enriched", 1, 3, "t", [2], value=b"b")
    sink.batcher.add("bulk", 0, 0, "t", [3], value=b"c")
    now[0] += 0.6  # partition 0's batch is due; partition 1's is not yet, bulk waits longer
    sink.flush_due()
    assert len(store.inserts) == 1, "one insert for the lane, not one per partition"
    _table, rows, token = store.inserts[0]
    assert rows == [[1], [2]] and token.startswith("group:2:")
    assert {k for k in sink.held} == {("enriched", 0), ("enriched", 1)}
    assert [c[0] for c in kafka.calls] == ["pause", "seek", "pause", "seek"]
    assert sink.batcher.get("bulk", 0) is not None and ("bulk", 0) not in sink.held

    now[0] += 60
    sink.retry_held()  # the same two batches, the same rows, the same token: it lands
    assert store.inserts[1] == store.inserts[0]
    assert kafka.calls[4] == ("commit", [("enriched", 0, 8), ("enriched", 1, 4)])
    assert [c[0] for c in kafka.calls[5:]] == ["resume", "resume"]
    assert not sink.held and sink.batcher.get("enriched", 0) is None
    assert sink.batcher.get("bulk", 0) is not None, "the bulk lane flushes on its own"
    assert sink.metrics.paused._value.get() == 0


def test_a_held_group_that_loses_a_partition_is_dropped_and_the_rest_read_again() -> None:
    store = Store(failures=10)
    sink = SinkConsumer({}, Routes(columns={"t": ["x"]}), store, batch_rows=10, flush_interval_s=1)
    kafka = FakeKafka()
    sink._consumer = kafka  # type: ignore[assignment]
    sink.batcher.add("enriched", 0, 0, "t", [1], value=b"a")
    sink.batcher.add("enriched", 1, 0, "t", [2], value=b"b")
    assert not sink.flush_group(sink.companions(sink.batcher.pending()[0]))
    kafka.calls.clear()
    sink._on_revoke(kafka, [TopicPartition("enriched", 0)])  # type: ignore[arg-type]
    assert not sink.held and not sink.batcher.pending(), "nothing committed, nothing kept"
    assert ("resume", [("enriched", 1, -1001)]) in kafka.calls, "partition 1 reads it again"
    assert not any(c[0] == "commit" for c in kafka.calls)
