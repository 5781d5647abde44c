"""``python -m sinks.writeback``: the write-back to VAN, its own process.

Two loops over one ledger (:mod:`sinks.writeback.ledger`):

- the intake thread consumes ``contacts.enriched`` (its own consumer group), decides per
  contact (:func:`~sinks.writeback.decide.decide`), adds the contacts to the ledger (an event
  already there is left alone) and only then commits the offsets;
- the sender (asyncio) posts the ledger's due rows to VAN (:mod:`sinks.writeback.sender`).

At start, rows a crash left ``sending`` become ``uncertain``. Metrics (posted, answers by VAN
code, uncertain count, lag) are served on ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from prometheus_client import start_http_server

from core.errors import BrokerError, ConfigError, SchemaError
from core.kafka import consumer_config, producer_config
from core.settings import Settings
from schemas import ENRICHED_CONTACT, WRITEBACK_STATUS
from schemas.codec import AvroCodec
from schemas.registry import codec_for
from sinks.writeback.config import OrgWriteback, load_writeback
from sinks.writeback.decide import decide
from sinks.writeback.ledger import Ledger, NewEntry
from sinks.writeback.metrics import WritebackMetrics
from sinks.writeback.pacing import KeyPacer
from sinks.writeback.sender import Sender, Target

log = logging.getLogger(__name__)


def targets_for(
    orgs: dict[str, OrgWriteback], settings: Settings, base_url: str | None = None
) -> dict[str, Target]:
    """One :class:`Target` per org; one pacer per API key (orgs sharing a key share it)."""
    wb = settings.writeback
    pacers: dict[str, KeyPacer] = {}
    out = {}
    for org_id, org in orgs.items():
        key = settings.van.api_keys.get(org_id)
        if key is None or not key.get_secret_value():
            raise ConfigError(
                f"org {org_id!r} writes back to VAN but has no API key: set "
                f"FIELDSTREAM_VAN__API_KEYS to a JSON object with {org_id!r}"
            )
        secret = key.get_secret_value()
        if secret not in pacers:
            pacers[secret] = KeyPacer(
                org.rate_per_second or wb.rate_per_key, org.concurrency or wb.concurrency_per_key
            )
        url = base_url or settings.van.base_url
        out[org_id] = Target.build(url, org.app_name, key, pacers[secret])
    return out


class Intake:
    """contacts.enriched -> the ledger; offsets committed after the ledger has the rows."""

    def __init__(
        self,
        settings: Settings,
        orgs: dict[str, OrgWriteback],
        ledger: Ledger,
        codec: AvroCodec,
        stop: threading.Event,
    ) -> None:
        self.settings, self.orgs, self.ledger, self.codec, self.stop = (
            settings, orgs, ledger, codec, stop,
        )  # fmt: skip
        wb = settings.writeback
        self.conf = consumer_config(
            settings.kafka,
            wb.group_id,
            fetch_wait_ms=wb.fetch_wait_ms,
            session_timeout_s=wb.session_timeout_s,
        )
        self.undecodable = 0

    def run(self) -> None:
        try:
            consumer = Consumer(self.conf)
            consumer.subscribe([self.settings.kafka.topics.enriched])
        except KafkaException as exc:
            raise BrokerError(f"the write-back cannot subscribe: {exc}") from exc
        try:
            while not self.stop.is_set():
                messages = consumer.consume(500, timeout=0.2)
                entries = [e for e in map(self.entry, messages) if e is not None]
                if entries:
                    self.ledger.add(entries)
                offsets = next_offsets(messages)
                if offsets:
                    consumer.commit(offsets=offsets, asynchronous=False)
        finally:
            consumer.close()

    def entry(self, message: Any) -> NewEntry | None:
        if message.error() is not None:
            log.warning("consume error: %s", message.error())
            return None
        try:
            _, record = self.codec.decode(message.value(), ENRICHED_CONTACT)
        except SchemaError:
            self.undecodable += 1  # the ClickHouse sink dead-letters it; nothing to post
            return None
        return decide(record, self.orgs)


def next_offsets(messages: list[Any]) -> list[TopicPartition]:
    """The offsets to commit after ``messages``: one past the last of each partition."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        if m.error() is None:
            key = (m.topic(), m.partition())
            last[key] = max(last.get(key, -1), m.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


class Publisher:
    """Ledger changes -> the status topic (the ClickHouse sink stores them in van_writeback)."""

    def __init__(self, settings: Settings, ledger: Ledger, codec: AvroCodec) -> None:
        self.ledger, self.codec = ledger, codec
        self.topic = settings.kafka.topics.writeback
        self.producer = Producer(producer_config(settings.kafka))

    def publish(self, limit: int = 1000) -> int:
        rows = self.ledger.unpublished(limit)
        for e in rows:
            record = {
                "event_id": e.event_id, "org_id": e.org_id, "source_system": e.source,
                "campaign_id": e.campaign_id, "state": e.state, "attempts": e.attempts,
                "van_status": e.van_status, "error_code": e.error_code,
                "rejected_by": e.rejected_by, "received_at": _ms(e.received_at),
                "updated_at": _ms(e.updated_at), "version": e.version,
            }  # fmt: skip
            self.producer.produce(
                self.topic,
                key=e.event_id.encode(),
                value=self.codec.encode(WRITEBACK_STATUS, record),
            )
        if rows:
            if self.producer.flush(30) != 0:
                raise BrokerError("the write-back could not publish its states (broker down?)")
            self.ledger.mark_published([(e.event_id, e.version) for e in rows])
        return len(rows)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def refresh_gauges(metrics: WritebackMetrics, ledger: Ledger) -> None:
    for (org, source, state), n in ledger.counts().items():
        metrics.contacts.labels(org, source, state).set(n)
    oldest = ledger.oldest_pending_received_at()
    metrics.lag.set(max(0.0, time.time() - oldest) if oldest else 0.0)


async def _main(settings: Settings, orgs: dict[str, OrgWriteback], stop: asyncio.Event) -> None:
    wb = settings.writeback
    ledger = Ledger(wb.ledger_file)
    recovered = ledger.recover()
    if recovered:
        log.warning("%d contact(s) were in flight at the last stop: now uncertain", recovered)
    metrics = WritebackMetrics()
    start_http_server(wb.metrics_port, wb.metrics_host, registry=metrics.registry)
    halt = threading.Event()
    codec = codec_for(settings.kafka.schema_registry_url)
    intake = Intake(settings, orgs, ledger, codec, halt)
    publisher = Publisher(settings, ledger, codec)
    thread = threading.Thread(target=intake.run, name="writeback-intake", daemon=True)
    thread.start()
    log.info("write-back running orgs=%s ledger=%s", sorted(orgs), wb.ledger_file)
    async with httpx.AsyncClient(timeout=wb.timeout_s) as client:
        sender = Sender(ledger, targets_for(orgs, settings), client, metrics)
        task = asyncio.create_task(sender.run(stop))
        while not stop.is_set():
            refresh_gauges(metrics, ledger)
            try:
                await asyncio.to_thread(publisher.publish)
            except BrokerError as exc:  # the ledger keeps them; published on a later pass
                log.warning("%s", exc)
            if not thread.is_alive():
                log.error("the write-back's intake stopped")
                stop.set()
            await asyncio.sleep(0.5)
        await task
        await asyncio.to_thread(publisher.publish)
    halt.set()
    thread.join(10)
    ledger.close()


def serve(settings: Settings) -> int:
    orgs = load_writeback(settings.writeback.config_file)
    if not orgs:
        log.info("no org writes back (%s has none): nothing to do", settings.writeback.config_file)
        return 0
    targets_for(orgs, settings)  # refuse a missing key before consuming anything

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await _main(settings, orgs, stop)

    asyncio.run(run())
    return 0
