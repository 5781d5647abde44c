"""Write the stage's outputs with confluent-kafka and wait for the broker's acks.

faust's own ``topic.send`` costs about twice the work per event (DESIGN), so the agent
produces with a plain confluent-kafka producer (acks=all, idempotent) and awaits the acks
of a whole batch at once. A record whose delivery failed is produced again until it is
acked: the caller acks its source events only after :meth:`OutputWriter.deliver` returned.
Plain loops without asyncio (the exchange agent, ``fieldstream exchange pseudonymise``) use
the blocking :meth:`OutputWriter.deliver_blocking` and :meth:`OutputWriter.send_blocking`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from fieldstream.errors import BrokerError

log = logging.getLogger(__name__)

Record = tuple[str, int | None, bytes | None, bytes | None]
"""(topic, partition or None for the partitioner, key, value)."""

UNASSIGNED = -1  # librdkafka's RD_KAFKA_PARTITION_UA: let the partitioner choose


class CounterLike(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class OutputWriter:
    """One producer per worker; :meth:`deliver` (or :meth:`deliver_blocking`) returns once
    every record is acked."""

    def __init__(
        self,
        conf: dict[str, Any],
        retries: CounterLike | None = None,
        flush_wait_s: float = 5.0,
        retry_pause_s: float = 1.0,
    ) -> None:
        # only failures need a callback: saves a Python call per acked record
        self._conf = {**conf, "delivery.report.only.error": True}
        self._producer = self._new_producer()
        self._retries = retries
        self._flush_wait_s = flush_wait_s
        self._retry_pause_s = retry_pause_s
        self._failed: list[Message] = []
        self._fatal: KafkaError | None = None
        self.quiet_failures = 0

    def _new_producer(self) -> Producer:
        try:
            return Producer(self._conf)
        except KafkaException as exc:
            raise BrokerError(f"cannot create the output producer: {exc}") from exc

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failed.append(msg)
            if err.fatal():
                self._fatal = err

    def _on_quiet_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.quiet_failures += 1

    async def deliver(self, records: Sequence[Record]) -> None:
        """Produce ``records`` and return once the broker acked every one of them."""
        pending: Sequence[Record] = records
        attempt = 0
        while pending:
            self._failed = []
            await self._produce_all(pending, self._on_delivery)
            await self._flush()
            failed, self._failed = self._failed, []
            if not failed:
                return
            attempt += 1
            pending, old = self._again(failed, len(pending), attempt)
            if old is not None:
                await asyncio.to_thread(old.flush, 0)
            await asyncio.sleep(self._retry_pause_s)

    def deliver_blocking(self, records: Iterable[Record]) -> None:
        """:meth:`deliver` for a plain loop without asyncio: the same retries, blocking until
        the broker acked every record (``records`` may be an iterator: it is read once)."""
        pending = records
        attempt = 0
        while True:
            produced, failed = self.send_blocking(pending)
            if not failed:
                return
            attempt += 1
            pending, old = self._again(failed, produced, attempt)
            if old is not None:
                old.flush(0)
            time.sleep(self._retry_pause_s)

    def send_blocking(self, records: Iterable[Record]) -> tuple[int, list[Message]]:
        """Produce ``records`` once (read as they come) and wait until the broker answered for
        every one; returns how many were produced and the messages not delivered (not sent
        again: :meth:`deliver_blocking` does that)."""
        self._failed = []
        produced = 0
        produce = self._producer.produce
        for topic, partition, key, value in records:
            p = UNASSIGNED if partition is None else partition
            while True:
                try:
                    produce(topic, value, key, partition=p, on_delivery=self._on_delivery)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    self._producer.poll(0.1)
            produced += 1
        waited = 0.0
        while self._producer.flush(self._flush_wait_s):
            waited += self._flush_wait_s
            log.warning("outputs not acknowledged after %.0fs; still waiting", waited)
        failed, self._failed = self._failed, []
        return produced, failed

    def _again(
        self, failed: list[Message], of: int, attempt: int
    ) -> tuple[list[Record], Producer | None]:
        """After a round with failed deliveries: log and count them, and start a new producer
        if the old one failed fatally (returned, for the caller to flush). The records to
        produce again."""
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
        old = None
        if self._fatal is not None:
            # an idempotent producer in a fatal state cannot send again: start a new one
            log.error("output producer failed fatally (%s); recreating it", self._fatal)
            self._fatal = None
            old, self._producer = self._producer, self._new_producer()
        return [(str(m.topic()), m.partition(), m.key(), m.value()) for m in failed], old

    def produce_quietly(
        self, topic: str, partition: int | None, key: bytes | None, value: bytes | None
    ) -> None:
        """Fire and forget (dedupe expiry tombstones: losing one only delays a forget)."""
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

    async def _produce_all(self, records: Sequence[Record], callback: Any) -> None:
        produce = self._producer.produce
        for topic, partition, key, value in records:
            p = UNASSIGNED if partition is None else partition
            while True:
                try:
                    produce(topic, value, key, partition=p, on_delivery=callback)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    await asyncio.to_thread(self._producer.poll, 0.1)

    async def _flush(self) -> None:
        waited = 0.0
        while await asyncio.to_thread(self._producer.flush, self._flush_wait_s):
            waited += self._flush_wait_s
            log.warning("outputs not acknowledged after %.0fs; still waiting", waited)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
