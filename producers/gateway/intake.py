"""What every gateway route does once it has a source and its payload's items.

The items go through the one intake hallway (producers/intake.py); a request is
all-or-nothing: one event that does not fit the standard refuses the request (422, every
problem named) and nothing is produced. Otherwise its events go to contacts.raw and the items
the source's map could not place go to contacts.dlq, and the answer is given only after Kafka
acked both and, where the gateway keeps a journal (producers/journal.py), it has them on disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.config import SourceConfig
from core.errors import BrokerError
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.metrics import GatewayMetrics
from producers.intake import Hallway, Origin, Prepared, gateway_topic
from producers.journal import Entry, Journal, JournalError
from producers.tools.base import Item
from schemas import AvroCodec

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request the gateway will not store: HTTP status, stable error code, what to fix."""

    def __init__(
        self, status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.problems = problems or []


@dataclass(frozen=True)
class Stored:
    event_ids: list[str]
    dead_lettered: int


class Intake:
    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        gateway: GatewaySettings,
        codec: AvroCodec,
        metrics: GatewayMetrics,
        producer: Callable[[], AsyncSender],
        clock: Callable[[], float],
        journal: Journal | None = None,
    ) -> None:
        self.kafka, self.gateway, self.metrics = kafka, gateway, metrics
        self.producer, self.clock, self.journal = producer, clock, journal
        self.hallway = Hallway(codec)

    def received_at(self) -> str:
        """Now, as the ISO UTC receive time adapters stand in for a tool that sends none."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).isoformat()

    async def store(
        self,
        source: SourceConfig,
        source_system: str,
        items: list[Item],
        original: bytes,
        attach: dict[str, Any] | None = None,
    ) -> Stored:
        """Produce the items' events and dead letters; return once Kafka acked them all."""
        now_ms = int(self.clock() * 1000)
        origin = Origin(source.id, source.org_id, source_system, gateway_topic(source.id))
        prepared = self.hallway.prepare(items, origin, original, now_ms, attach)
        if prepared.problems:
            raise Refused(
                422,
                "invalid_events",
                f"{prepared.bad_events} of {prepared.events} events do not fit the "
                "data standard; nothing was accepted. Fix the fields named and resend.",
                [p.as_dict() for p in prepared.problems],
            )
        t0 = time.perf_counter()
        try:
            await asyncio.gather(self._produce(prepared), self._journal(prepared))
        except (BrokerError, JournalError) as exc:
            log.warning("store failed source=%s items=%d: %s", source.id, len(items), exc)
            raise Refused(
                503, "kafka_unavailable", "events were not stored; retry later with the same events"
            ) from exc
        self.metrics.produce_seconds.observe(time.perf_counter() - t0)
        self.metrics.accepted.labels(source.id).inc(len(prepared.raw))
        reasons = sorted({u.reason_code for u in prepared.unmapped})
        for u in prepared.unmapped:
            self.metrics.refused.labels(u.reason_code).inc()
        if prepared.unmapped:
            log.info(
                "dead-lettered source=%s items=%d reasons=%s",
                source.id,
                len(prepared.unmapped),
                reasons,
            )
        return Stored(prepared.event_ids, len(prepared.unmapped))

    async def _produce(self, prepared: Prepared) -> None:
        producer, timeout = self.producer(), self.gateway.produce_timeout_s
        await producer.send_many(self.kafka.topics.raw, prepared.raw, timeout)
        await producer.send_many(self.kafka.topics.dlq, prepared.dlq, timeout)

    async def _journal(self, prepared: Prepared) -> None:
        """On disk before the 2xx, where a journal is kept (the embedded default)."""
        if self.journal is None:
            return
        topics = self.kafka.topics
        entries = [Entry(topics.raw, k, v) for k, v in prepared.raw]
        entries += [Entry(topics.dlq, k, v) for k, v in prepared.dlq]
        await self.journal.append(entries)
