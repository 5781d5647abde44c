"""The quality agent: contacts.enriched -> QualityMonitor -> quality.flags.

A plain confluent-kafka loop like the exchange agent's (streams/exchange/agent.py says why not
faust): one consumer, so every contact of a canvasser reaches the one monitor that holds their
shifts (the enriched topic is keyed by person, not by canvasser). Each event is handled on its
own as it is read (:func:`handle_batch`): one that cannot be read becomes a dead letter (stage
``quality``) and the loop goes on; the shifts a batch grew are then judged once each. Flags are
produced, flushed (acked by the broker), then the offsets are committed.

The monitor's state is memory only. At start the agent re-reads the last ``rebuild_hours`` of
contacts.enriched (by timestamp, whatever offsets were committed) to rebuild running shifts and
the day's peers; the flags it writes again then carry the same flag ids and collapse in
ClickHouse (ReplacingMergeTree on updated_at).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from core.errors import BrokerError, FieldstreamError
from core.producer import KafkaWriter
from schemas import DEAD_LETTER, ENRICHED_CONTACT, QUALITY_FLAG, AvroCodec
from schemas.deadletter import dead_letter_record
from streams.quality.model import obs_from_enriched
from streams.quality.monitor import QualityMonitor
from streams.quality.records import flag_record

log = logging.getLogger(__name__)

Outbound = tuple[str, bytes, bytes]  # topic, key, value
Where = tuple[str, int, int]  # topic, partition, offset
EVICT_EVERY_S = 3600.0
SETTLE_EVERY_S = 10.0  # every shift with contacts not judged yet is judged at least this often
KEEP_S = 2 * 86400.0


def handle_batch(
    items: Sequence[tuple[bytes, Where]],
    codec: AvroCodec,
    monitor: QualityMonitor,
    flags_topic: str,
    dlq_topic: str,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    *,
    settle: bool = False,
) -> list[Outbound]:
    """What a batch of enriched contacts gives: a dead letter for each one that cannot be read
    or placed in a shift, then the flag records of the shifts due a judgement (each judged
    once; ``settle``: every shift with a contact not judged yet, see QualityMonitor.judge)."""
    out: list[Outbound] = []
    for value, where in items:
        contact: dict[str, Any] = {}
        try:
            _, record = codec.decode(value, expect=ENRICHED_CONTACT)
            contact = record["contact"]
            obs = obs_from_enriched(record)
            if obs is not None:
                monitor.add(obs)
        except (FieldstreamError, KeyError, TypeError, ValueError, OverflowError) as exc:
            reason = f"the quality checks could not read this contact: {type(exc).__name__}: {exc}"
            dead = dead_letter_record(
                value,
                stage="quality",
                code="quality_error",
                reason=reason[:500],
                where=where,
                event_id=str(contact["event_id"]) if contact.get("event_id") else None,
                org_id=contact.get("org_id"),
                source_system=contact.get("source_system"),
                failed_at=now(),
            )
            out.append((dlq_topic, where[0].encode(), codec.encode(DEAD_LETTER, dead)))
    for flag in monitor.judge(everything=settle):
        pol = monitor.settings.policy_for(flag.org_id, flag.campaign_id)
        encoded = codec.encode(QUALITY_FLAG, flag_record(flag, pol.quarantine))
        out.append((flags_topic, flag.flag_id.encode(), encoded))
    return out


class QualityAgent:
    """The consumer loop around :func:`handle_batch`; at-least-once, commits after acks."""

    def __init__(
        self,
        consumer_conf: dict[str, Any],
        producer_conf: dict[str, Any],
        monitor: QualityMonitor,
        codec: AvroCodec,
        *,
        enriched_topic: str,
        bulk_topic: str | None = None,
        flags_topic: str,
        dlq_topic: str,
        rebuild_s: float,
        batch_max: int = 1000,
        heartbeat: Path | None = None,
    ) -> None:
        self.consumer_conf = consumer_conf
        self.monitor = monitor
        self.codec = codec
        # the live lane and, when given, the bulk lane (imports): shifts come from both
        self.enriched_topics = [t for t in (enriched_topic, bulk_topic) if t]
        self.flags_topic = flags_topic
        self.dlq_topic = dlq_topic
        self.rebuild_s = rebuild_s
        self.batch_max = batch_max
        self.heartbeat = heartbeat
        self._beat_at = 0.0
        self.writer = KafkaWriter(producer_conf)
        self.stop_event = threading.Event()
        self.started = threading.Event()
        self.totals = {"events": 0, "flags": 0, "dead": 0}

    def stop(self) -> None:
        self.stop_event.set()

    def _rewind(self, consumer: Consumer, partitions: Sequence[TopicPartition]) -> None:
        """On assignment: start rebuild_s back in time, whatever was committed."""
        since_ms = int((time.time() - self.rebuild_s) * 1000)
        wanted = [TopicPartition(p.topic, p.partition, since_ms) for p in partitions]
        try:
            found = consumer.offsets_for_times(wanted, timeout=10)
        except KafkaException as exc:
            log.warning("cannot look offsets up by time (%s); reading from committed", exc)
            found = list(partitions)
        consumer.assign(found)
        self.started.set()

    def run(self) -> None:
        consumer = Consumer(self.consumer_conf)
        try:
            consumer.subscribe(self.enriched_topics, on_assign=self._rewind)
            next_evict = time.monotonic() + EVICT_EVERY_S
            next_settle = time.monotonic() + SETTLE_EVERY_S
            while not self.stop_event.is_set():
                batch = consumer.consume(self.batch_max, timeout=0.2)
                # quiet, or a while since: judge every shift with contacts not judged yet
                settle = not batch or time.monotonic() >= next_settle
                if batch or (settle and self.monitor.unjudged()):
                    self._handle(batch, settle=settle)
                if batch:
                    _commit(consumer, batch)
                if settle:
                    next_settle = time.monotonic() + SETTLE_EVERY_S
                self._beat()
                if time.monotonic() >= next_evict:
                    self.monitor.evict(self.monitor.watermark - KEEP_S)
                    next_evict = time.monotonic() + EVICT_EVERY_S
        except KafkaException as exc:
            raise BrokerError(f"the quality agent lost the broker: {exc}") from exc
        finally:
            consumer.close()
            self.writer.close()

    def _beat(self) -> None:
        """Touch the heartbeat file (at most every 5 s): the container's health probe."""
        if self.heartbeat is None or time.monotonic() - self._beat_at < 5:
            return
        self._beat_at = time.monotonic()
        self.heartbeat.touch()

    def _handle(self, batch: list[Message], *, settle: bool = False) -> None:
        items = []
        for msg in batch:
            if msg.error() is not None:
                log.warning("consume error: %s", msg.error())
                continue
            where = (str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
            items.append((msg.value() or b"", where))
        out = handle_batch(
            items, self.codec, self.monitor, self.flags_topic, self.dlq_topic, settle=settle
        )
        self.totals["events"] += len(items)
        for topic, key, value in out:
            self.totals["flags" if topic == self.flags_topic else "dead"] += 1
            self.writer.send(topic, key, value)
        self.writer.flush(noun="quality records")
        log.info(
            "quality batch: %d events; totals %s; %d shifts held",
            len(batch),
            self.totals,
            len(self.monitor.shifts),
        )


def _commit(consumer: Consumer, batch: Sequence[Message]) -> None:
    """Commit past the batch, partition by partition (the consumer stores no offsets by
    itself: ``enable.auto.offset.store`` is off, so a bare commit() has nothing to send)."""
    ends: dict[tuple[str, int], int] = {}
    for msg in batch:
        if msg.error() is None:
            key = (str(msg.topic()), int(msg.partition() or 0))
            ends[key] = max(ends.get(key, 0), int(msg.offset() or 0) + 1)
    if ends:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()], asynchronous=False
        )
