"""The sink's consumer loop: every routed topic (sinks/routes.py) -> ClickHouse.

One confluent-kafka consumer, manual commits. Rows are batched per topic-partition on offset
ranges (:mod:`sinks.batcher`); a batch is inserted with a deduplication token of its range and
bytes, contacts already stored by another batch are dropped first (:mod:`sinks.ledger`), and
the partition's offset is committed (last + 1, synchronously) only after the insert
succeeded. A failed insert is retried with the SAME batch until it succeeds, without stalling
the loop: nothing is skipped and nothing is committed past. Messages that cannot be decoded become
dead_letters rows (stage 'sink'), never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from core.errors import BrokerError, FieldstreamError, StoreError
from core.metrics import Metrics
from schemas.ids import event_id_of
from sinks.batcher import Batch, Batcher, Row
from sinks.ledger import Query, StoredIds
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
        self.already_stored = self.counter(
            "fieldstream_sink_already_stored",
            "Rows not inserted because the store already held them from another batch",
            ["table"],
        )
        self.healed = self.counter(
            "fieldstream_sink_rollups_fed_again",
            "Stored contacts whose rollups were fed again (stored before a restart, sent again)",
            ["table"],
        )
        self.paused = self.gauge(
            "fieldstream_sink_paused_partitions",
            "Partitions paused because their batch's insert failed (retried with backoff)",
        )
        self.lag = self.gauge(
            "fieldstream_sink_consumer_lag",
            "Messages on the broker the sink has not read yet (high watermark - position)",
            ["topic", "partition"],
        )


@dataclass
class Held:
    """A batch whose insert failed: its partition is paused until the retry at ``retry_at``."""

    batch: Batch
    attempt: int
    retry_at: float


class SinkConsumer:
    """Consumes every routed topic and writes batches through ``writer``.

    Backpressure without stalling: a failed insert holds its batch (whole, so the retry is
    identical), pauses that partition and seeks it back past the batch, and the loop goes on
    polling (the consumer stays in its group however long the store is away); the batch is
    retried with backoff and, once written and committed, the partition resumes.
    """

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
        ledger: StoredIds | None = None,
        query: Query | None = None,
        heal: Callable[[str, list[str]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conf = consumer_conf
        self.routes = routes
        self.columns = {**routes.columns, "dead_letters": DEAD_LETTER_COLUMNS}
        self.writer = writer
        self.metrics = metrics or SinkMetrics()
        self.batcher = Batcher(batch_rows, flush_interval_s)
        self.retry_max_s = retry_max_s
        self.ledger = ledger
        self.query = query
        self.heal = heal
        self.clock = clock
        self.held: dict[tuple[str, int], Held] = {}
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
        add = self.batcher.add
        route = self.routes.by_topic.get(topic)
        if route is None:
            log.warning("message from unexpected topic %s ignored", topic)
            return add(topic, partition, off, value=value)
        try:
            routed = route(value, (topic, partition, off))
        except (FieldstreamError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.metrics.undecodable.labels(topic).inc()
            code = "sink_undecodable" if isinstance(exc, FieldstreamError) else "sink_bad_record"
            reason = f"the sink could not read this message: {type(exc).__name__}: {exc}"[:500]
            row = sink_dead_letter_row(topic, partition, off, value, code, reason, msg.key())
            return add(topic, partition, off, "dead_letters", row, value=value)
        if routed is None:
            self.metrics.without_row.labels(topic).inc()
            return add(topic, partition, off, value=value)
        return add(topic, partition, off, routed.table, routed.row, routed.received_at, value=value)

    # --- batch -> store -------------------------------------------------------------
    def _table_rows(self, table: str, rows: list[Row], token: str) -> tuple[list[Row], list[str]]:
        """The rows to insert (for a ledgered table: those not stored by another batch, each
        with the token that stores it) and their event ids."""
        key = self.routes.ledgered.get(table)
        if key is None or self.ledger is None:
            return rows, []
        ids = [key(r) for r in rows]
        keep, unsure = self.ledger.unstored(ids, token)
        if unsure and self.heal is not None:
            # the heal feeds rollups from contact_events by event id (a key's first part)
            self.heal(table, sorted({event_id_of(k) for k in unsure}))
            self.ledger.make_sure(unsure)
            self.metrics.healed.labels(table).inc(len(unsure))
        dropped = len(rows) - len(keep)
        if dropped:
            self.metrics.already_stored.labels(table).inc(dropped)
        return [[*rows[i], token] for i in keep], [ids[i] for i in keep]

    def write_batch(self, batch: Batch) -> None:
        """Insert every table of ``batch`` once; StoreError if any insert failed (the caller
        holds the batch and retries it whole)."""
        t0 = time.perf_counter()
        written: dict[str, int] = {}
        stored: list[str] = []
        for table, rows in sorted(batch.rows.items()):
            insert, ids = self._table_rows(table, rows, batch.token)
            self.writer(table, self.columns[table], insert, batch.token)
            written[table] = len(insert)
            stored += ids
        if self.ledger is not None and stored:
            self.ledger.add(stored, batch.token)
        elapsed = time.perf_counter() - t0
        now = datetime.now(UTC)
        m = self.metrics
        m.insert_seconds.observe(elapsed)
        m.last_insert.set(now.timestamp())
        for table, n in written.items():
            m.rows.labels(table).inc(n)
        for received in batch.received_at:
            m.freshness.observe(max(0.0, (now - received).total_seconds()))
        counts = " ".join(f"{t}={n}" for t, n in sorted(written.items())) or "rows=0"
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
            # the rows are written; a redelivery is dropped by the token and the ledger
            log.warning("commit of %s failed: %s (it will be redelivered)", batch.token, exc)

    def flush(self, batch: Batch) -> bool:
        """Write, commit and forget ``batch``; on a store failure hold it (its partition
        paused, retried later) and return False."""
        key = (batch.topic, batch.partition)
        try:
            self.write_batch(batch)
        except StoreError as exc:
            self._hold(batch, exc)
            return False
        self.commit(batch)
        self.batcher.done(batch)
        if self.held.pop(key, None) is not None:
            self._resume(batch.topic, batch.partition)
            log.info("insert of %s succeeded; %s:%d resumed", batch.token, *key)
        return True

    def _hold(self, batch: Batch, exc: StoreError) -> None:
        key = (batch.topic, batch.partition)
        held = self.held.get(key)
        attempt = held.attempt + 1 if held is not None else 1
        pause = min(self.retry_max_s, 0.2 * 2**attempt)
        self.held[key] = Held(batch, attempt, self.clock() + pause)
        self.metrics.insert_failures.inc()
        self.metrics.paused.set(len(self.held))
        if held is None:
            self._pause(batch)
        log.warning(
            "insert of %s failed (attempt %d): %s; %s:%d paused, retrying in %.1fs",
            batch.token,
            attempt,
            exc,
            batch.topic,
            batch.partition,
            pause,
        )

    def _pause(self, batch: Batch) -> None:
        """Stop fetching the partition and seek it back past the held batch: what was fetched
        behind it is read again once it resumes."""
        if self._consumer is None:
            return
        tp = TopicPartition(batch.topic, batch.partition, batch.commit_offset)
        try:
            self._consumer.pause([tp])
            self._consumer.seek(tp)
        except KafkaException as exc:
            log.warning("pausing %s:%d: %s", batch.topic, batch.partition, exc)

    def _resume(self, topic: str, partition: int) -> None:
        self.metrics.paused.set(len(self.held))
        if self._consumer is None:
            return
        try:
            self._consumer.resume([TopicPartition(topic, partition)])
        except KafkaException as exc:
            log.warning("resuming %s:%d: %s", topic, partition, exc)

    def retry_held(self) -> None:
        now = self.clock()
        for held in list(self.held.values()):
            if held.retry_at <= now:
                self.flush(held.batch)

    def flush_due(self) -> None:
        for batch in self.batcher.due():
            if (batch.topic, batch.partition) not in self.held:
                self.flush(batch)

    def flush_all(self, attempts: int = 3) -> None:
        """Write what is buffered (at stop): a few tries each, then leave it uncommitted (it is
        read again at the next start)."""
        for batch in self.batcher.pending():
            for _ in range(attempts):
                if self.flush(batch):
                    break
                time.sleep(min(self.retry_max_s, 0.5))

    # --- loop -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.set()
        if self.ledger is not None and self.query is not None:
            try:  # another sink may have stored contacts of these partitions meanwhile
                self.ledger.warm(self.query)
            except StoreError as exc:
                log.warning("could not refresh the stored ids on assignment: %s", exc)
        log.info("assigned %d partitions", len(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            batch = self.batcher.get(tp.topic, tp.partition)
            self.held.pop((tp.topic, tp.partition), None)
            if batch is not None and not self.flush(batch):
                # not committed: whoever owns the partition next reads these offsets again
                log.error("dropping unwritten batch %s on revoke", batch.token)
                self.held.pop((tp.topic, tp.partition), None)
                self.batcher.drop(tp.topic, tp.partition)
        self.metrics.paused.set(len(self.held))
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
        held = self.held
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
                    if held and (str(msg.topic()), int(msg.partition() or 0)) in held:
                        continue  # fetched before the pause: read again after the seek back
                    batch = self.handle(msg)
                    if batch.messages >= self.batcher.batch_rows:
                        self.flush(batch)
                self.flush_due()
                if held:
                    self.retry_held()
                if time.monotonic() >= next_lag:
                    self._measure_lag(consumer)
                    if self.ledger is not None:
                        self.ledger.expire()
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
