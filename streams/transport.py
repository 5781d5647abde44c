"""Faust's aiokafka transport with whole fetched batches, a configurable fetch wait and checked
end offsets.

* the topics named in ``batch_topics`` (contacts.raw) reach their agent as one message per
  partition per fetch, acked as a whole (:mod:`streams.batches`);
* faust's aiokafka driver builds its worker consumer with ``fetch_max_wait_ms=1500``
  hard-coded. Tansu holds every fetch for the consumer's full max wait even when data is
  there, so every event would wait up to 1.5 s in the broker. This transport sets the wait of
  the consumer faust creates (before it starts) to ``fetch_wait_ms``.
* Tansu (0.6) answers ListOffsets(latest) with the base offset of the partition's last
  record batch + 1, ignoring the other records of that batch. Faust recovers a table's
  changelog up to that offset only, so it would forget the rest of the last batch. The end
  offsets faust asks for are therefore checked with one fetch per partition from the
  reported offset - 1 to the end (the fetch's high watermark is right). On Apache Kafka the
  check finds the reported offsets unchanged.

Install it on an app with :func:`install`, before any agent or table is declared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import aiokafka
import faust
from confluent_kafka import Consumer, KafkaError, TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT

from core.errors import ConfigError
from streams.batches import BatchDelivery, raw_fetches

log = logging.getLogger(__name__)


class ShortFetchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def on_start(self) -> None:
        await super().on_start()
        topics: frozenset[str] = getattr(self.transport, "batch_topics", frozenset())
        if topics and self._consumer is not None:
            raw_fetches(self._consumer._fetcher, topics)

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        bootstrap = ",".join(f"{u.host}:{u.port or 9092}" for u in self.transport.url)
        return await asyncio.to_thread(true_end_offsets, bootstrap, reported)

    def _create_consumer(self, loop: asyncio.AbstractEventLoop) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_consumer(loop)
        wait_ms = getattr(self.transport, "fetch_wait_ms", None)
        if wait_ms is not None:
            # read by AIOKafkaConsumer.start() when it builds its Fetcher
            if not hasattr(consumer, "_fetch_max_wait_ms"):
                raise ConfigError(
                    "this aiokafka version has no _fetch_max_wait_ms; streams/transport.py "
                    "needs updating for it"
                )
            consumer._fetch_max_wait_ms = int(wait_ms)
        return consumer


class ShortFetchConsumer(BatchDelivery, faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_topics = frozenset(getattr(self.transport, "batch_topics", ()))

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ShortFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ShortFetchTransport(faust_aiokafka.Transport):
    """aiokafka transport whose worker consumer waits ``fetch_wait_ms`` per fetch."""

    Consumer: ClassVar[type[ConsumerT]] = ShortFetchConsumer

    def __init__(
        self,
        *args: Any,
        fetch_wait_ms: int = 20,
        batch_topics: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if fetch_wait_ms < 1:
            raise ConfigError("stream.fetch_wait_ms must be at least 1")
        self.fetch_wait_ms = fetch_wait_ms
        self.batch_topics = batch_topics


def true_end_offsets(
    bootstrap_servers: str, reported: Mapping[Any, int], timeout_s: float = 15.0
) -> dict[Any, int]:
    """End offsets (next offset to write) per partition, read from fetches.

    ``reported`` maps objects with ``.topic`` and ``.partition`` to the end offsets the broker
    answered to ListOffsets; each partition is read from ``reported - 1`` to its end. On a
    timeout the reported offset is kept (and a warning logged).
    """
    out = dict(reported)
    todo = {(tp.topic, tp.partition): tp for tp, end in reported.items() if end > 0}
    if not todo:
        return out
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "fieldstream-end-offsets",  # never joined, never committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        consumer.assign([TopicPartition(t, p, reported[tp] - 1) for (t, p), tp in todo.items()])
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.2):
                tp = todo.get((msg.topic(), msg.partition()))
                if tp is None:
                    continue
                err, offset = msg.error(), msg.offset() or 0
                if err is None:
                    out[tp] = max(out[tp], offset + 1)
                elif err.code() == KafkaError._PARTITION_EOF:
                    out[tp] = max(out[tp], offset)
                    del todo[(msg.topic(), msg.partition())]
    finally:
        consumer.close()
    if todo:
        log.warning(
            "could not check the end offsets of %d partitions; using the reported ones", len(todo)
        )
    changed = sum(1 for tp in reported if out[tp] != reported[tp])
    if changed:
        log.info("end offsets corrected for %d of %d partitions", changed, len(reported))
    return out


def install(
    app: faust.App, fetch_wait_ms: int, batch_topics: frozenset[str] = frozenset()
) -> ShortFetchTransport:
    """Make ``app`` consume through :class:`ShortFetchTransport` (producers are unchanged);
    ``batch_topics`` arrive as whole fetched batches (:mod:`streams.batches`)."""
    transport = ShortFetchTransport(
        app.conf.broker_consumer, app, fetch_wait_ms=fetch_wait_ms, batch_topics=batch_topics
    )
    app.transport = transport
    return transport
