"""What every gateway route does once it has a source and its payload's items.

Events are checked against the data standard (all-or-nothing per request: one bad event
refuses the request and nothing is produced) and produced to contacts.raw; items an adapter
could not map (an unknown code) go to contacts.dlq with the reason, stage "gateway", and the
request's bytes, so a data manager can add the code and replay them. The answer is given only
after Kafka acked both.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fieldstream.config import SourceConfig
from fieldstream.errors import BrokerError
from fieldstream.settings import GatewaySettings, KafkaSettings
from producers.adapters.base import Item, Unmapped
from producers.gateway.metrics import GatewayMetrics
from producers.importers.deadletter import dead_letter
from producers.kafka_async import AsyncProducer
from schemas import CONTACT_EVENT, DEAD_LETTER, AvroCodec
from schemas.jsonconv import ContactJson, Problem

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
        producer: Callable[[], AsyncProducer],
        clock: Callable[[], float],
    ) -> None:
        self.kafka, self.gateway, self.codec, self.metrics = kafka, gateway, codec, metrics
        self.producer, self.clock = producer, clock
        self.converter = ContactJson()

    def received_at(self) -> str:
        """Now, as the ISO UTC receive time adapters stand in for a tool that sends none."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).isoformat()

    def convert(self, items: list[Item], received_ms: int) -> list[dict[str, Any]]:
        """Avro-ready records of the items that are events; 422 naming every problem."""
        records: list[dict[str, Any]] = []
        problems: list[dict[str, Any]] = []
        n_events = 0
        for i, item in enumerate(items):
            if isinstance(item, Unmapped):
                continue
            n_events += 1
            record, found = self.converter.convert(item, received_ms)
            problems.extend(_problem(i, p) for p in found)
            if record is not None:
                records.append(record)
        if problems:
            n_bad = len({p["index"] for p in problems})
            raise Refused(
                422,
                "invalid_events",
                f"{n_bad} of {n_events} events do not fit the "
                "data standard; nothing was accepted. Fix the fields named and resend.",
                problems,
            )
        return records

    async def store(
        self, source: SourceConfig, source_system: str, items: list[Item], original: bytes
    ) -> Stored:
        """Produce the items' events and dead letters; return once Kafka acked them all."""
        now_ms = int(self.clock() * 1000)
        records = self.convert(items, now_ms)
        unmapped = [i for i in items if isinstance(i, Unmapped)]
        events = [(r["event_id"].encode(), self.codec.encode(CONTACT_EVENT, r)) for r in records]
        dead = [
            (
                source.id.encode(),
                self.codec.encode(
                    DEAD_LETTER,
                    dead_letter(
                        original,
                        u,
                        org_id=source.org_id,
                        source_system=source_system,
                        source_topic=f"gateway:{source.id}",
                        offset=-1,
                        now_ms=now_ms,
                    ),
                ),
            )
            for u in unmapped
        ]
        t0 = time.perf_counter()
        try:
            producer = self.producer()
            timeout = self.gateway.produce_timeout_s
            if events:
                await producer.send_many(self.kafka.topics.raw, events, timeout)
            if dead:
                await producer.send_many(self.kafka.topics.dlq, dead, timeout)
        except BrokerError as exc:
            log.warning("produce failed source=%s items=%d: %s", source.id, len(items), exc)
            raise Refused(
                503, "kafka_unavailable", "events were not stored; retry later with the same events"
            ) from exc
        self.metrics.produce_seconds.observe(time.perf_counter() - t0)
        self.metrics.accepted.labels(source.id).inc(len(records))
        for u in unmapped:
            self.metrics.refused.labels(u.reason_code).inc()
        if unmapped:
            log.info(
                "dead-lettered source=%s items=%d reasons=%s",
                source.id,
                len(unmapped),
                sorted({u.reason_code for u in unmapped}),
            )
        return Stored([r["event_id"] for r in records], len(unmapped))


def _problem(index: int, p: Problem) -> dict[str, Any]:
    return {"index": index, "field": p.field, "problem": p.problem}
