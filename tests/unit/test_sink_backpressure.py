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
