"""The project's one Kafka producer core, and its thin asyncio face.

Every process that writes to Kafka goes through :class:`KafkaWriter`: the gateway (through
:class:`AsyncSender`), the importers and the voter-file loader (:meth:`KafkaWriter.send` then
:meth:`KafkaWriter.flush`), the stream stage and the exchange (:meth:`KafkaWriter.deliver`,
which returns only once the broker acked every record, producing failed ones again).

There is one loop for a full local queue (:meth:`KafkaWriter.put`) and one loop for failed
deliveries (:meth:`KafkaWriter.deliver_blocking`; the async :meth:`KafkaWriter.deliver` runs it
in a thread). The producer config is :func:`core.kafka.producer_config`: acks=all, idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from core.errors import BrokerError

log = logging.getLogger(__name__)

Record = tuple[str, int | None, bytes | None, bytes | None]
"""(topic, partition or None for the partitioner, key, value)."""

Delivery = Callable[[KafkaError | None, Message], None]

UNASSIGNED = -1  # librdkafka's RD_KAFKA_PARTITION_UA: let the partitioner choose


class CounterLike(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class KafkaWriter:
    """One confluent-kafka producer with the project's delivery rules."""

    def __init__(
        self,
        conf: dict[str, Any],
        *,
        retries: CounterLike | None = None,
        flush_wait_s: float = 5.0,
        retry_pause_s: float = 1.0,
        report_success: bool = False,
    ) -> None:
        # without success reports, an acked record costs no Python call
        self._conf = conf if report_success else {**conf, "delivery.report.only.error": True}
        self._producer = self._new_producer()
        self._retries = retries
        self._flush_wait_s = flush_wait_s
        self._retry_pause_s = retry_pause_s
        self._failed: list[Message] = []
        self._fatal: KafkaError | None = None
        self.failed = 0  # failed deliveries of send() since the last flush()
        self.errors: list[str] = []
        self.quiet_failures = 0

    def _new_producer(self) -> Producer:
        try:
            return Producer(self._conf)
        except KafkaException as exc:
            raise BrokerError(f"cannot create the Kafka producer: {exc}") from exc

    # -- the one full-queue loop ---------------------------------------------------------

    def put(
        self,
        topic: str,
        partition: int | None,
        key: bytes | None,
        value: bytes | None,
        on_delivery: Delivery,
    ) -> None:
        """Hand one record to the producer; while its local queue is full, serve deliveries
        and try again. BrokerError when the producer refuses the record outright."""
        p = UNASSIGNED if partition is None else partition
        while True:
            try:
                self._producer.produce(topic, value, key, partition=p, on_delivery=on_delivery)
                return
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise BrokerError(f"cannot produce to {topic}: {exc}") from exc

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery callbacks (bulk senders call it now and then)."""
        self._producer.poll(timeout_s)

    # -- bulk: send many, then flush once --------------------------------------------------

    def _counted(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(str(err))

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Produce one record, counting a failed delivery for :meth:`flush` to report."""
        self.put(topic, None, key, value, self._counted)

    def flush(self, timeout_s: float = 60.0, noun: str = "messages") -> None:
        """Wait for everything sent; BrokerError naming ``noun`` unless Kafka acked it all."""
        left = self._producer.flush(timeout_s)
        if left:
            raise BrokerError(f"{left} {noun} were not acknowledged by Kafka in {timeout_s:.0f}s")
        if self.failed:
            failed, errors = self.failed, "; ".join(self.errors)
            self.failed, self.errors = 0, []
            raise BrokerError(f"Kafka refused {failed} {noun}: {errors}")

    # -- delivered: return only once every record is acked ---------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failed.append(msg)
            if err.fatal():
                self._fatal = err

    def send_blocking(self, records: Iterable[Record]) -> tuple[int, list[Message]]:
        """Produce ``records`` once (read as they come) and wait until the broker answered for
        each; returns how many were produced and the messages not delivered."""
        self._failed = []
        produced = 0
        for topic, partition, key, value in records:
            self.put(topic, partition, key, value, self._on_delivery)
            produced += 1
        waited = 0.0
        while self._producer.flush(self._flush_wait_s):
            waited += self._flush_wait_s
            log.warning("records not acknowledged after %.0fs; still waiting", waited)
        failed, self._failed = self._failed, []
        return produced, failed

    def deliver_blocking(self, records: Iterable[Record]) -> None:
        """Produce ``records`` and return once the broker acked every one; a failed delivery
        is produced again (after a pause) until it is acked."""
        pending = records
        attempt = 0
        while True:
            produced, failed = self.send_blocking(pending)
            if not failed:
                return
            attempt += 1
            pending = self._again(failed, produced, attempt)
            time.sleep(self._retry_pause_s)

    async def deliver(self, records: Sequence[Record]) -> None:
        """:meth:`deliver_blocking` for asyncio callers (run in a worker thread)."""
        if records:
            await asyncio.to_thread(self.deliver_blocking, records)

    def _again(self, failed: list[Message], of: int, attempt: int) -> list[Record]:
        """After a round with failed deliveries: log and count them, start a new producer if
        the old one failed fatally; the records to produce again."""
        errors = sorted({e.name() for m in failed if (e := m.error()) is not None})
        log.warning(
            "%d of %d records not delivered (%s); producing them again (attempt %d)",
            len(failed),
            of,
            ", ".join(errors),
            attempt,
        )
        if self._retries is not None:
            self._retries.inc(len(failed))
        if self._fatal is not None:
            # an idempotent producer in a fatal state cannot send again: start a new one
            log.error("producer failed fatally (%s); recreating it", self._fatal)
            self._fatal = None
            old, self._producer = self._producer, self._new_producer()
            old.flush(0)
        return [(str(m.topic()), m.partition(), m.key(), m.value()) for m in failed]

    def produce_quietly(
        self, topic: str, partition: int | None, key: bytes | None, value: bytes | None
    ) -> None:
        """Fire and forget (where losing one record only delays housekeeping)."""
        try:
            self._producer.produce(
                topic,
                value,
                key,
                partition=UNASSIGNED if partition is None else partition,
                on_delivery=self._on_quiet_delivery,
            )
        except (BufferError, KafkaException):
            self.quiet_failures += 1

    def _on_quiet_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.quiet_failures += 1

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)


class _Acks:
    """Counts the delivery reports of one :meth:`AsyncSender.send_many`; resolves once."""

    __slots__ = ("error", "future", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.remaining = n
        self.error: KafkaError | None = None

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        # runs in the poll thread, one report at a time
        if err is not None and self.error is None:
            self.error = err
        self.remaining -= 1
        if self.remaining == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(BrokerError(f"Kafka refused a message: {self.error.str()}"))
        else:
            self.future.set_result(None)


class AsyncSender:
    """The asyncio face of :class:`KafkaWriter` for request handlers: ``await send_many(...)``
    returns once the broker acknowledged every message of that call, or raises BrokerError
    (the caller answers 503; the sender retries). A background thread serves deliveries."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.writer = KafkaWriter(conf, report_success=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.writer.poll(0.05)

    async def send_many(
        self, topic: str, messages: Sequence[tuple[bytes | None, bytes]], timeout_s: float = 10.0
    ) -> None:
        """Produce every (key, value); return once all are acknowledged, else BrokerError."""
        if not messages:
            return
        acks = _Acks(asyncio.get_running_loop(), len(messages))
        for key, value in messages:
            self.writer.put(topic, None, key, value, acks.on_delivery)
        try:
            await asyncio.wait_for(asyncio.shield(acks.future), timeout_s)
        except TimeoutError:
            raise BrokerError(f"Kafka did not acknowledge within {timeout_s:.0f}s") from None

    def healthy(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self.writer.close(timeout_s)
