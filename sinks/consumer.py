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

import contextlib
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaException,
    Message,
    TopicPartition,
)

from core.errors import BrokerError, FieldstreamError, StoreError
from schemas.ids import event_id_of
from sinks.batcher import Batch, Batcher, Row
from sinks.ledger import Query, StoredIds
from sinks.metrics import SinkMetrics
from sinks.routes import Routes
from sinks.rows import DEAD_LETTER_COLUMNS, sink_dead_letter_row

log = logging.getLogger(__name__)

__all__ = ["SinkConsumer", "SinkMetrics"]

Writer = Callable[[str, Sequence[str], Sequence[Sequence[Any]], str], None]
"""write(table, columns, rows, dedup_token); raises StoreError on failure."""


LAG_EVERY_S = 1.0  # how often the lag gauge is refreshed


@dataclass
class Held:
    """Batches whose insert failed together: their partitions are paused until the retry at
    ``retry_at``, which inserts exactly these batches again."""

    batches: list[Batch]
    attempt: int
    retry_at: float


def group_token(batches: Sequence[Batch]) -> str:
    """The insert token of batches written together: a batch's own token, or a digest of the
    members' tokens (each a function of its offset range and bytes), in their order."""
    if len(batches) == 1:
        return batches[0].token
    digest = hashlib.blake2b(digest_size=16)
    for batch in batches:
        digest.update(batch.token.encode())
        digest.update(b"\0")
    return f"group:{len(batches)}:{digest.hexdigest()}"


def key_of(batch: Batch) -> tuple[str, int]:
    return (batch.topic, batch.partition)


def waited(msg: Message, now: float, away: float) -> float:
    """How long ``msg`` was ready before this read: since its broker timestamp (``now``:
    time.time()), and never more than ``away``, the time since the loop's previous read
    returned (a producer's clock that runs behind cannot make every batch due at once).
    A message that arrived while the loop was inserting has waited as long: its batch is
    due that much sooner, so a read after a slow insert does not wait a whole interval
    more."""
    kind, ms = msg.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or ms <= 0:
        return 0.0
    return min(away, max(0.0, now - ms / 1000))


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
        ledger_lock: threading.Lock | None = None,
        name: str = "sink",
        limits: dict[str, tuple[int, float]] | None = None,
        fresh: frozenset[str] | None = None,
    ) -> None:
        self.conf = consumer_conf
        self.routes = routes
        self.columns = {**routes.columns, "dead_letters": DEAD_LETTER_COLUMNS}
        self.writer = writer
        self.metrics = metrics or SinkMetrics()
        for topic in routes.topics():  # a series at 0 from the start: the boards show a rate
            self.metrics.undecodable.labels(topic)
        self.batcher = Batcher(batch_rows, flush_interval_s, clock=clock, limits=limits)
        # topics whose rows the freshness histogram observes (the live lane; None: all)
        self.fresh = fresh
        self.retry_max_s = retry_max_s
        self.ledger = ledger
        self.query = query
        self.heal = heal
        self.clock = clock
        # several consumers of one process share the ledger: its check, the insert and its
        # update are one step under this lock
        self.ledger_lock = ledger_lock if ledger_lock is not None else threading.Lock()
        self.name = name
        self.held: dict[tuple[str, int], Held] = {}
        self._lag_labels: set[tuple[str, str]] = set()  # the lag series this consumer set
        self.stop_event = threading.Event()
        self.started = threading.Event()
        self.assigned = threading.Event()
        self._consumer: Consumer | None = None

    # --- message -> row -------------------------------------------------------------
    def handle(self, msg: Message, waited: float = 0.0) -> Batch:
        """Decode one message through its topic's route and add its row to its batch
        (``waited``: how long it was ready before this read; see :func:`waited`)."""
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), msg.offset()
        value = msg.value()
        off = int(offset) if offset is not None else 0
        add = functools.partial(self.batcher.add, waited=waited)
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

    def write_group(self, batches: Sequence[Batch]) -> None:
        """Insert the rows of ``batches`` (one insert per table, one token for them all);
        StoreError if any insert failed (the caller holds them and retries them whole)."""
        t0 = time.perf_counter()
        token = group_token(batches)
        tables: dict[str, list[Row]] = {}
        for batch in batches:
            for table, rows in batch.rows.items():
                tables.setdefault(table, []).extend(rows)
        written: dict[str, int] = {}
        stored: list[str] = []
        with self.ledger_lock:
            for table, rows in sorted(tables.items()):
                insert, ids = self._table_rows(table, rows, token)
                self.writer(table, self.columns[table], insert, token)
                written[table] = len(insert)
                stored += ids
            if self.ledger is not None and stored:
                self.ledger.add(stored, token)
        elapsed = time.perf_counter() - t0
        now = datetime.now(UTC)
        m = self.metrics
        m.insert_seconds.observe(elapsed)
        m.last_insert.set(now.timestamp())
        for table, n in written.items():
            m.rows.labels(table).inc(n)
        for batch in batches:
            if self.fresh is None or batch.topic in self.fresh:
                for received in batch.received_at:
                    m.freshness.observe(max(0.0, (now - received).total_seconds()))
        counts = " ".join(f"{t}={n}" for t, n in sorted(written.items())) or "rows=0"
        ranges = " + ".join(f"{b.topic}:{b.partition} offsets {b.first}-{b.last}" for b in batches)
        log.info("flushed %s %s in %.0f ms", ranges, counts, elapsed * 1000)

    def write_batch(self, batch: Batch) -> None:
        self.write_group([batch])

    def commit(self, batches: Sequence[Batch]) -> None:
        if self._consumer is None:
            return
        tps = [TopicPartition(b.topic, b.partition, b.commit_offset) for b in batches]
        try:
            self._consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            # the rows are written; a redelivery is dropped by the token and the ledger
            token = group_token(batches)
            log.warning("commit of %s failed: %s (it will be redelivered)", token, exc)

    def flush(self, batch: Batch) -> bool:
        """:meth:`flush_group` of one batch."""
        return self.flush_group([batch])

    def flush_group(self, batches: Sequence[Batch]) -> bool:
        """Write, commit and forget ``batches`` together; on a store failure hold them (their
        partitions paused, retried later, together) and return False."""
        batches = list(batches)
        try:
            self.write_group(batches)
        except StoreError as exc:
            self._hold(batches, exc)
            return False
        self.commit(batches)
        for batch in batches:
            self.batcher.done(batch)
            if self.held.pop(key_of(batch), None) is not None:
                self._resume(batch.topic, batch.partition)
                log.info("insert succeeded; %s:%d resumed", *key_of(batch))
        return True

    def _hold(self, batches: list[Batch], exc: StoreError) -> None:
        before = self.held.get(key_of(batches[0]))
        attempt = before.attempt + 1 if before is not None else 1
        pause = min(self.retry_max_s, 0.2 * 2**attempt)
        held = Held(batches, attempt, self.clock() + pause)
        self.metrics.insert_failures.inc()
        for batch in batches:
            if key_of(batch) not in self.held:
                self.metrics.paused.inc()  # consumers of one process add up
                self._pause(batch)
            self.held[key_of(batch)] = held
        log.warning(
            "insert of %s failed (attempt %d): %s; %s paused, retrying in %.1fs",
            group_token(batches),
            attempt,
            exc,
            ", ".join(f"{b.topic}:{b.partition}" for b in batches),
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
        self.metrics.paused.dec()
        if self._consumer is None:
            return
        try:
            self._consumer.resume([TopicPartition(topic, partition)])
        except KafkaException as exc:
            log.warning("resuming %s:%d: %s", topic, partition, exc)

    def retry_held(self) -> None:
        now = self.clock()
        for held in list({id(h): h for h in self.held.values()}.values()):
            if held.retry_at <= now:
                self.flush_group(held.batches)

    def _lane(self, topic: str) -> str:
        """Batches of one lane are written together (the bulk lane's apart: it waits for
        large batches; the others flush at the live pace)."""
        return topic if topic in self.batcher.limits else ""

    def companions(self, batch: Batch) -> list[Batch]:
        """``batch`` and every other pending, not held batch of its lane, in a fixed order:
        written together, one insert per table instead of one per partition."""
        lane = self._lane(batch.topic)
        return sorted(
            (
                b
                for b in self.batcher.pending()
                if self._lane(b.topic) == lane and key_of(b) not in self.held
            ),
            key=key_of,
        )

    def flush_due(self) -> None:
        lanes: set[str] = set()
        for batch in self.batcher.due():
            lane = self._lane(batch.topic)
            if key_of(batch) not in self.held and lane not in lanes:
                lanes.add(lane)
                self.flush_group(self.companions(batch))

    def flush_all(self, attempts: int = 3) -> None:
        """Write what is buffered (at stop): held batches as they were held, the rest by lane,
        a few tries each; what fails stays uncommitted (it is read again at the next start)."""
        groups = [h.batches for h in {id(h): h for h in self.held.values()}.values()]
        rest = [b for b in self.batcher.pending() if key_of(b) not in self.held]
        for lane in sorted({self._lane(b.topic) for b in rest}):
            groups.append(sorted((b for b in rest if self._lane(b.topic) == lane), key=key_of))
        for group in groups:
            for _ in range(attempts):
                if self.flush_group(group):
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
        log.info("%s: assigned %d partitions", self.name, len(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        groups: dict[int, list[Batch]] = {}
        for key in revoked:
            held = self.held.get(key)
            if held is not None:
                groups[id(held)] = held.batches
            elif (batch := self.batcher.get(*key)) is not None:
                groups[id(batch)] = [batch]
        for group in groups.values():
            if self.flush_group(group):
                continue
            # not committed: whoever owns these partitions next reads them again
            log.error("dropping unwritten batches %s on revoke", group_token(group))
            for batch in group:
                if self.held.pop(key_of(batch), None) is not None:
                    if key_of(batch) in revoked:
                        self.metrics.paused.dec()
                    else:  # still ours: sought back past it, so resuming reads it again
                        self._resume(batch.topic, batch.partition)
                self.batcher.drop(batch.topic, batch.partition)
        for topic, partition in revoked:
            self._forget_lag(topic, partition)
        log.info("%s: revoked %d partitions", self.name, len(partitions))

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
        next_lag = read_at = time.monotonic()
        held = self.held
        try:
            while not self.stop_event.is_set():
                msgs = consumer.consume(num_messages=poll_max, timeout=poll_timeout_s)
                last, read_at = read_at, time.monotonic()
                now = time.time()
                for msg in msgs:
                    err = msg.error()
                    if err is not None:
                        if err.fatal():
                            raise BrokerError(f"the sink consumer failed: {err}")
                        log.debug("consumer event: %s", err)
                        continue
                    if held and (str(msg.topic()), int(msg.partition() or 0)) in held:
                        continue  # fetched before the pause: read again after the seek back
                    batch = self.handle(msg, waited(msg, now, read_at - last))
                    if batch.messages >= self.batcher.rows_of(batch.topic):
                        self.flush_group(self.companions(batch))
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
                self._lag_labels.add((tp.topic, str(tp.partition)))

    def _forget_lag(self, topic: str, partition: int) -> None:
        """A partition this consumer no longer owns: its lag is its new owner's to report."""
        labels = (topic, str(partition))
        if labels in self._lag_labels:
            self._lag_labels.discard(labels)
            with contextlib.suppress(KeyError):  # another consumer of this process removed it
                self.metrics.lag.remove(*labels)

    def stop(self) -> None:
        self.stop_event.set()
