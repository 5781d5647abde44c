"""The sink's consumer loop: every routed topic (sinks/routes.py) -> ClickHouse.

One confluent-kafka consumer, manual commits. Rows are batched per topic-partition on fixed
offset ranges (:mod:`sinks.batcher`); a batch is inserted with a deduplication token of its
range, and the partition's offset is committed (last + 1, synchronously) only after the
insert succeeded. A failed insert is retried with the SAME batch until it succeeds: nothing
is skipped and nothing is committed past. Messages that cannot be decoded become
dead_letters rows (stage 'sink'), never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from core.errors import BrokerError, FieldstreamError, StoreError
from core.metrics import Metrics
from sinks.batcher import Batch, Batcher
from sinks.routes import Routes
from sinks.rows import DEAD_LETTER_COLUMNS, sink_dead_letter_row

log = logging.getLogger(__name__)

Writer = Callable[[str, Sequence[str], Sequence[Sequence[Any]], str], None]
"""write(table, columns, rows, dedup_token); raises StoreError on failure."""


LAG_EVERY_S = 1.0  # how often the lag gauge is refreshed


class SinkMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.rows = self.counter(
            "fieldstream_sink_rows_inserted",
            "Rows inserted, by table",
            ["table"],
        )
        self.insert_seconds = self.histogram(
            "fieldstream_sink_insert_seconds",
            "Time to insert one batch (all its tables)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.freshness = self.histogram(
            "fieldstream_sink_freshness_seconds",
            "From gateway receipt (received_at) to insert into ClickHouse",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.last_insert = self.gauge(
            "fieldstream_sink_last_insert_timestamp_seconds",
            "Unix time of the last successful insert",
        )
        self.insert_failures = self.counter(
            "fieldstream_sink_insert_failures",
            "Failed insert attempts (retried)",
        )
        self.undecodable = self.counter(
            "fieldstream_sink_undecodable",
            "Messages the sink could not decode (written to dead_letters)",
            ["topic"],
        )
        self.without_row = self.counter(
            "fieldstream_sink_messages_without_row",
            "Messages with nothing to store (voter tombstones), by topic",
            ["topic"],
        )
        self.lag = self.gauge(
            "fieldstream_sink_consumer_lag",
            "Messages on the broker the sink has not read yet (high watermark - position)",
            ["topic", "partition"],
        )


class SinkConsumer:
    """Consumes every routed topic and writes batches through ``writer``."""

    def __init__(
        self,
        consumer_conf: dict[str, Any],
        routes: Routes,
        writer: Writer,
        *,
        batch_rows: int,
        flush_interval_s: float,
        metrics: SinkMetrics | None = None,
        retry_max_s: float = 10.0,
    ) -> None:
        self.conf = consumer_conf
        self.routes = routes
        self.columns = {**routes.columns, "dead_letters": DEAD_LETTER_COLUMNS}
        self.writer = writer
        self.metrics = metrics or SinkMetrics()
        self.batcher = Batcher(batch_rows, flush_interval_s)
        self.retry_max_s = retry_max_s
        self.stop_event = threading.Event()
        self.started = threading.Event()
        self.assigned = threading.Event()
        self._consumer: Consumer | None = None

    # --- message -> row -------------------------------------------------------------
    def handle(self, msg: Message) -> Batch:
        """Decode one message through its topic's route and add its row to its batch."""
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), msg.offset()
        value = msg.value()
        off = int(offset) if offset is not None else 0
        route = self.routes.by_topic.get(topic)
        if route is None:
            log.warning("message from unexpected topic %s ignored", topic)
            return self.batcher.add(topic, partition, off)
        try:
            routed = route(value, (topic, partition, off))
        except (FieldstreamError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.metrics.undecodable.labels(topic).inc()
            code = "sink_undecodable" if isinstance(exc, FieldstreamError) else "sink_bad_record"
            reason = f"the sink could not read this message: {type(exc).__name__}: {exc}"[:500]
            row = sink_dead_letter_row(topic, partition, off, value, code, reason)
            return self.batcher.add(topic, partition, off, "dead_letters", row)
        if routed is None:
            self.metrics.without_row.labels(topic).inc()
            return self.batcher.add(topic, partition, off)
        return self.batcher.add(topic, partition, off, routed.table, routed.row, routed.received_at)

    # --- batch -> store -------------------------------------------------------------
    def write_batch(self, batch: Batch) -> None:
        """Insert every table of ``batch``; retry the same batch until it is written."""
        attempt = 0
        while True:
            t0 = time.perf_counter()
            try:
                for table, rows in sorted(batch.rows.items()):
                    self.writer(table, self.columns[table], rows, batch.token)
                break
            except StoreError as exc:
                attempt += 1
                self.metrics.insert_failures.inc()
                if self.stop_event.is_set() and attempt >= 3:
                    raise
                pause = min(self.retry_max_s, 0.2 * 2**attempt)
                log.warning(
                    "insert of %s failed (attempt %d): %s; retrying in %.1fs",
                    batch.token,
                    attempt,
                    exc,
                    pause,
                )
                time.sleep(pause)
        elapsed = time.perf_counter() - t0
        now = datetime.now(UTC)
        m = self.metrics
        m.insert_seconds.observe(elapsed)
        m.last_insert.set(now.timestamp())
        for table, rows in batch.rows.items():
            m.rows.labels(table).inc(len(rows))
        for received in batch.received_at:
            m.freshness.observe(max(0.0, (now - received).total_seconds()))
        counts = " ".join(f"{t}={len(r)}" for t, r in sorted(batch.rows.items())) or "rows=0"
        log.info(
            "flushed %s:%d offsets %d-%d %s in %.0f ms",
            batch.topic,
            batch.partition,
            batch.first,
            batch.last,
            counts,
            elapsed * 1000,
        )

    def commit(self, batch: Batch) -> None:
        if self._consumer is None:
            return
        tp = TopicPartition(batch.topic, batch.partition, batch.commit_offset)
        try:
            self._consumer.commit(offsets=[tp], asynchronous=False)
        except KafkaException as exc:
            # the rows are written; a redelivery is absorbed by the dedup token / FINAL
            log.warning("commit of %s failed: %s (it will be redelivered)", batch.token, exc)

    def flush(self, batch: Batch) -> None:
        """Write, then commit, then forget the batch (only once written)."""
        written = False
        try:
            self.write_batch(batch)
            written = True
            self.commit(batch)
        finally:
            if written:
                self.batcher.done(batch)

    def flush_due(self) -> None:
        for batch in self.batcher.due():
            self.flush(batch)

    def flush_all(self) -> None:
        for batch in self.batcher.pending():
            self.flush(batch)

    # --- loop -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.set()
        log.info("assigned %d partitions", len(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            batch = self.batcher.get(tp.topic, tp.partition)
            if batch is None:
                continue
            try:
                self.flush(batch)
            except StoreError as exc:
                # not committed: whoever owns the partition next reads these offsets again
                log.error("dropping unwritten batch %s on revoke: %s", batch.token, exc)
                self.batcher.drop(tp.topic, tp.partition)
        log.info("revoked %d partitions", len(partitions))

    def run(self, poll_max: int = 5000, poll_timeout_s: float = 0.05) -> None:
        """Consume until :meth:`stop`; then flush and commit what is buffered, and close."""
        try:
            consumer = Consumer(self.conf)
            consumer.subscribe(
                self.routes.topics(),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
            )
        except KafkaException as exc:
            raise BrokerError(f"the sink cannot subscribe: {exc}") from exc
        self._consumer = consumer
        self.started.set()
        next_lag = time.monotonic()
        try:
            while not self.stop_event.is_set():
                msgs = consumer.consume(num_messages=poll_max, timeout=poll_timeout_s)
                for msg in msgs:
                    err = msg.error()
                    if err is not None:
                        if err.fatal():
                            raise BrokerError(f"the sink consumer failed: {err}")
                        log.debug("consumer event: %s", err)
                        continue
                    batch = self.handle(msg)
                    if batch.messages >= self.batcher.batch_rows:
                        self.flush(batch)
                self.flush_due()
                if time.monotonic() >= next_lag:
                    self._measure_lag(consumer)
                    next_lag = time.monotonic() + LAG_EVERY_S
            self.flush_all()
        finally:
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing the sink consumer: %s", exc)
            self._consumer = None

    def _measure_lag(self, consumer: Consumer) -> None:
        """Lag per assigned partition, from the high watermark of the last fetch (Tansu's
        ListOffsets answer is too low to use; the fetch's is right) and our position."""
        try:
            assigned = consumer.assignment()
            positions = consumer.position(assigned) if assigned else []
        except KafkaException as exc:
            log.debug("cannot read positions for the lag gauge: %s", exc)
            return
        for tp in positions:
            try:
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high >= 0 and tp.offset >= 0:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - tp.offset))

    def stop(self) -> None:
        self.stop_event.set()
