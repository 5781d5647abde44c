"""What every gateway route does once it has a source and its payload's items.

The items go through the one intake hallway (producers/intake.py); a request is
all-or-nothing: one item that does not fit the standard refuses the request (422, every
problem named) and nothing is produced but its opt-ins and opt-outs (a compliance fact is kept
whatever else fails). Otherwise its events go to contacts.raw, the items the source's map
could not place to contacts.dlq, person signals to person.signals and shifts to
volunteer.shifts, and the answer is given only after Kafka acked them all and, where the
gateway keeps a journal (producers/journal.py), they are on disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from core.config import SourceConfig
from core.errors import BrokerError
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.metrics import GatewayMetrics
from producers.intake import Hallway, Origin, gateway_topic
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


class Uploads:
    """At most ``limit`` requests of one source in progress at once (a slow or stalled sender
    cannot hold more of the gateway than that); more are refused with 429."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, source_id: str) -> AsyncIterator[None]:
        if self.active.get(source_id, 0) >= self.limit:
            raise Refused(
                429,
                "too_many_uploads",
                f"{self.limit} requests of this source are in progress; retry when one ends",
            )
        self.active[source_id] = self.active.get(source_id, 0) + 1
        try:
            yield
        finally:
            self.active[source_id] -= 1
            if not self.active[source_id]:
                del self.active[source_id]


@dataclass(frozen=True)
class Stored:
    event_ids: list[str]
    dead_lettered: int
    signals: int = 0
    shifts: int = 0


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
        self.hallway = Hallway(codec, gateway.max_future_s)
        self.uploads = Uploads(gateway.max_uploads_per_source)

    def now_ms(self) -> int:
        """Now, epoch milliseconds: take it once per request, for the adapter and the store."""
        return int(self.clock() * 1000)

    @staticmethod
    def iso(ms: int) -> str:
        """``ms`` as the ISO UTC receive time adapters stand in for a tool that sends none."""
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()

    def received_at(self) -> str:
        """Now, as the ISO UTC receive time adapters stand in for a tool that sends none."""
        return self.iso(self.now_ms())

    async def store(
        self,
        source: SourceConfig,
        source_system: str,
        items: list[Item],
        original: bytes,
        attach: dict[str, Any] | None = None,
        *,
        received_ms: int | None = None,
    ) -> Stored:
        """Produce the items' events, dead letters, signals and shifts; return once Kafka
        acked them all. ``attach``: fields only fieldstream sets, on every event (the VAN
        route's ``van_request``). ``received_ms``: when the request arrived, if the route
        already took the time (the adapter saw it; the dead letters keep the same, so a replay
        derives the same ids)."""
        now_ms = self.now_ms() if received_ms is None else received_ms
        origin = Origin(
            source.id,
            source.org_id,
            source_system,
            gateway_topic(source.id),
            hold_partial=source.partial_contacts == "hold",
        )
        prepared = self.hallway.prepare(items, origin, original, now_ms, attach)
        topics = self.kafka.topics
        if prepared.problems:
            kept = ""
            if prepared.signals:  # opt-ins and opt-outs: recorded, whatever else is wrong
                await self._send(source, [(topics.signals, prepared.signals)])
                kept = f" Its {len(prepared.signals)} opt-in/opt-out signal(s) were recorded."
            raise Refused(
                422,
                "invalid_events",
                f"{prepared.bad_events} of {max(prepared.events, prepared.bad_events)} events "
                "do not fit the data standard; nothing was accepted. Fix the fields named and "
                "resend." + kept + _osdi_hint(items),
                [p.as_dict() for p in prepared.problems],
            )
        t0 = time.perf_counter()
        await self._send(
            source,
            [
                (topics.raw, prepared.raw),
                (topics.dlq, prepared.dlq),
                (topics.signals, prepared.signals),
                (topics.shifts, prepared.shifts),
            ],
        )
        self.metrics.produce_seconds.observe(time.perf_counter() - t0)
        self.metrics.accepted.labels(source.id).inc(len(prepared.raw))
        reasons = sorted({u.reason_code for u in prepared.unmapped})
        for u in prepared.unmapped:
            self.metrics.refused.labels(u.reason_code).inc()
        if prepared.unmapped:
            log.info(
                "dead-lettered source=%s items=%d counted=%d reasons=%s",
                source.id,
                len(prepared.unmapped),
                prepared.partial,
                reasons,
            )
        return Stored(
            prepared.event_ids, len(prepared.unmapped), len(prepared.signals), len(prepared.shifts)
        )

    async def _send(
        self, source: SourceConfig, batches: list[tuple[str, list[tuple[bytes, bytes]]]]
    ) -> None:
        """Produce each (topic, messages) and wait for Kafka's acks and, where a journal is
        kept (the embedded default), for the messages to be on disk; 503 when either fails."""
        try:
            await asyncio.gather(self._produce(batches), self._journal(batches))
        except (BrokerError, JournalError) as exc:
            count = sum(len(m) for _, m in batches)
            log.warning("store failed source=%s messages=%d: %s", source.id, count, exc)
            raise Refused(
                503, "kafka_unavailable", "events were not stored; retry later with the same events"
            ) from exc

    async def _produce(self, batches: list[tuple[str, list[tuple[bytes, bytes]]]]) -> None:
        producer, timeout = self.producer(), self.gateway.produce_timeout_s
        for topic, messages in batches:
            if messages:
                await producer.send_many(topic, messages, timeout)

    async def _journal(self, batches: list[tuple[str, list[tuple[bytes, bytes]]]]) -> None:
        if self.journal is not None:
            await self.journal.append([Entry(t, k, v) for t, ms in batches for k, v in ms])


OSDI_KEYS = frozenset({"canvass", "action_date", "status_code", "add_tags", "_links"})


def _osdi_hint(items: list[Item]) -> str:
    """A pointer to the OSDI route when the refused events are OSDI canvasses."""
    if not any(isinstance(i, dict) and OSDI_KEYS & i.keys() for i in items):
        return ""
    return (
        " These look like OSDI canvasses, which this route does not take: give the tool a "
        "source with tool osdi and the entry point /osdi/<source id> (docs/sources.md)."
    )
