"""The exchange agent: contacts.enriched -> each partner's topic, our own pseudonymised copy
("self"), and the audit trail.

Why a plain confluent-kafka loop, not a faust agent: the work is stateless per event, so
faust would add only its per-message machinery, about twice the work itself (DESIGN: ~10k
events/s for a plain loop, ~3.5k for the best faust variant), and its acking is the hard part;
here offsets are committed by hand after the broker acked every record of the batch.

Contacts the sink's ledger keeper takes out of every count (voided, or folded into their copy
from another path: contacts.suppressions) are retracted: :func:`plan_retraction` (pure) sends
a Retraction under the same shared id to our own copy and to every partner whose agreement
covers the contact, and a Retraction with retracted false when a void is undone.

Per event, :func:`plan_event` (pure) decides what leaves: per partner whose agreement is in
force, the SharedContact (:func:`streams.exchange.share`) and its audit record; and our own
contact, shared to us under :func:`self_agreement`, so our contacts carry the same pseudonyms
as partners' and line up in ClickHouse. An event that cannot be shared (no key valid when it
occurred, a record that does not fit its schema) goes to the DLQ and nothing of it is shared.

Agreement changes: the file is checked every ``reload_check_s`` (size, mtime) and at once on
SIGHUP; changes are logged one line each (diff_agreements) and apply to events handled from
then on; a file that fails to load is logged and the terms in force stay. Keys are read at
start (a rotation is planned ahead in keys.yaml; restart the agent after editing it).
``release_delay_s`` holds each contact that long (by message time) before it is shared.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from core.errors import BrokerError, ConfigError, FieldstreamError
from core.producer import KafkaWriter
from core.settings import SELF_PARTNER, ExchangeSettings
from schemas import (
    DEAD_LETTER,
    ENRICHED_CONTACT,
    EXCHANGE_AUDIT,
    RETRACTION,
    SHARED_CONTACT,
    SUPPRESSION,
    AvroCodec,
)
from schemas.deadletter import dead_letter_record
from streams.exchange.agreements import (
    Agreement,
    Agreements,
    Precision,
    diff_agreements,
    load_agreements,
)
from streams.exchange.audit import audit_record
from streams.exchange.pseudonym import KeyRing, shared_event_id
from streams.exchange.share import as_utc, covers, event_ids, share, truncate

log = logging.getLogger(__name__)

Record = dict[str, Any]
Outbound = tuple[str, bytes, bytes]  # topic, key, value


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: str
    schema: str
    record: Record


@dataclass
class Plan:
    """What one event gives: records to produce, or an error (reason_code, reason)."""

    out: list[Outgoing] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    error: tuple[str, str] | None = None


@functools.lru_cache(maxsize=256)
def self_agreement(org_id: str) -> Agreement:
    """The terms our own contacts are pseudonymised under for our ClickHouse: every field a
    partner could ever get, at minute precision (they never leave us)."""
    fields = {"timestamps": "minute", "channel": True, "result": True, "geography": "precinct"}
    fields["demographics"] = ["age_band", "sex", "race", "ethnicity"]
    return Agreement.model_validate(
        {"id": SELF_PARTNER, "partner": SELF_PARTNER}
        | {"valid_from": "2000-01-01", "valid_until": "9999-01-01"}
        | {"share": [{"org": org_id, "campaigns": ["*"]}], "fields": fields}
    )


def plan_event(
    enriched: Mapping[str, Any],
    agreements: Agreements,
    keys: KeyRing,
    now: dt.datetime,
    exchange: ExchangeSettings,
) -> Plan:
    """The records one EnrichedContact gives at ``now`` (pure: no I/O)."""
    try:
        contact = enriched["contact"]
        self_terms = self_agreement(contact["org_id"])
        ids = event_ids(enriched, keys)  # the same for our copy and every partner's
        ours = share(enriched, self_terms, keys, now, ids)
        assert ours is not None  # the self agreement covers every org, always in force
        plan = Plan()
        key = str(ours["shared_event_id"])
        plan.out.append(Outgoing(exchange.topic(exchange.self_topic), key, SHARED_CONTACT, ours))
        for partner in agreements.partners():
            agreement = agreements.in_force(partner, now)
            if agreement is None:
                continue
            record = share(enriched, agreement, keys, now, ids)
            if record is None:
                continue
            topic = exchange.topic(exchange.outbound_topic, partner)
            plan.out.append(Outgoing(topic, key, SHARED_CONTACT, record))
            audit = audit_record(record, enriched, now)
            audit_topic = exchange.topic(exchange.audit_topic)
            plan.out.append(Outgoing(audit_topic, f"{partner}:{key}", EXCHANGE_AUDIT, audit))
            plan.partners.append(partner)
        return plan
    except ConfigError as exc:  # no key valid when the contact occurred
        return Plan(error=("exchange_no_key", str(exc)))
    except (FieldstreamError, KeyError, TypeError, ValueError) as exc:
        return Plan(error=("exchange_error", f"{type(exc).__name__}: {exc}"[:500]))


REASONS = {"void": "voided", "fold": "duplicate"}


def plan_retraction(
    suppressed: Mapping[str, Any],
    agreements: Agreements,
    keys: KeyRing,
    now: dt.datetime,
    exchange: ExchangeSettings,
) -> Plan:
    """The Retraction records one Suppression gives (pure): to our own copy and to every
    partner whose agreement in force covers the contact's org and campaign (a partner that
    never got the contact just keeps a retraction of an id it does not hold)."""
    try:
        occurred = as_utc(suppressed["occurred_at"])
        key = keys.key_at(occurred)
        sid = shared_event_id(key, str(suppressed["event_id"]))
        contact = {"contact": suppressed}
        record: Record = {
            "shared_event_id": sid,
            "partner_id": SELF_PARTNER,
            "sharing_org": suppressed["org_id"],
            "key_id": key.id,
            "retracted": bool(suppressed["active"]),
            "reason": REASONS[suppressed["kind"]],
            "decided_at": truncate(as_utc(suppressed["decided_at"]), Precision.hour),
        }
        plan = Plan()
        plan.out.append(Outgoing(exchange.topic(exchange.self_topic), sid, RETRACTION, record))
        for partner in agreements.partners():
            agreement = agreements.in_force(partner, now)
            if agreement is None or not covers(contact, agreement, now):
                continue
            topic = exchange.topic(exchange.outbound_topic, partner)
            plan.out.append(
                Outgoing(topic, sid, RETRACTION, {**record, "partner_id": agreement.partner})
            )
            plan.partners.append(partner)
        return plan
    except ConfigError as exc:  # no key valid when the contact occurred: nothing was shared
        return Plan(error=("exchange_no_key", str(exc)))
    except (FieldstreamError, KeyError, TypeError, ValueError) as exc:
        return Plan(error=("exchange_error", f"{type(exc).__name__}: {exc}"[:500]))


def encode_plan(plan: Plan, codec: AvroCodec) -> list[Outbound]:
    """The plan's records as Kafka messages; SchemaError if one does not fit its schema."""
    return [(o.topic, o.key.encode(), codec.encode(o.schema, o.record)) for o in plan.out]


def dead_letter(
    value: bytes,
    where: tuple[str, int, int],
    code: str,
    reason: str,
    at: dt.datetime,
    contact: Mapping[str, Any] | None = None,
) -> Record:
    """A DeadLetter for an event the exchange could not share (``contact``: the decoded
    ContactEvent, when it could be decoded); stage ``exchange``, reason code exchange_*."""
    c = contact or {}
    return dead_letter_record(
        value,
        stage="exchange",
        code=code,
        reason=f"the exchange could not share this contact: {reason}",
        where=where,
        event_id=str(c["event_id"]) if c.get("event_id") else None,
        org_id=c.get("org_id"),
        source_system=c.get("source_system"),
        failed_at=at,
    )


class ExchangeAgent:
    """The consumer loop around :func:`plan_event`; at-least-once, commits after acks."""

    def __init__(
        self,
        consumer_conf: dict[str, Any],
        producer_conf: dict[str, Any],
        exchange: ExchangeSettings,
        *,
        enriched_topic: str,
        bulk_topic: str | None = None,
        dlq_topic: str,
        suppressions_topic: str | None = None,
        agreements_path: Path,
        keys: KeyRing,
        codec: AvroCodec,
        on_new_topics: Callable[[list[str]], None] = lambda names: None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        max_pending: int = 100_000,
    ) -> None:
        self.consumer_conf = consumer_conf
        self.exchange = exchange
        # the live lane and, when given, the bulk lane (imports are shared like live contacts)
        self.enriched_topics = [t for t in (enriched_topic, bulk_topic) if t]
        self.dlq_topic = dlq_topic
        self.suppressions_topic = suppressions_topic
        self.agreements_path = agreements_path
        self.keys = keys
        self.codec = codec
        self.on_new_topics = on_new_topics
        self.clock = clock
        self.max_pending = max_pending
        self.writer = KafkaWriter(producer_conf)
        self.agreements = load_agreements(agreements_path)
        self._stamp = self._file_stamp()
        self._next_check = time.monotonic() + exchange.reload_check_s
        self.reload_requested = threading.Event()
        self.stop_event = threading.Event()
        self.started = threading.Event()
        self._pending: deque[Message] = deque()
        self.totals = {"events": 0, "shared": 0, "dead": 0}

    def topics(self, agreements: Agreements | None = None) -> list[str]:
        """Every topic the agent writes (partners named by any agreement, in force or not)."""
        ex = self.exchange
        a = agreements or self.agreements
        fixed = [ex.topic(ex.self_topic), ex.topic(ex.audit_topic), self.dlq_topic]
        return fixed + [ex.topic(ex.outbound_topic, p) for p in a.partners()]

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.agreements_path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def maybe_reload(self) -> bool:
        """Reload the agreements if the file changed or SIGHUP asked; True if terms changed."""
        forced = self.reload_requested.is_set()
        if not forced and time.monotonic() < self._next_check:
            return False
        self._next_check = time.monotonic() + self.exchange.reload_check_s
        stamp = self._file_stamp()
        if not forced and stamp == self._stamp:
            return False
        self.reload_requested.clear()
        self._stamp = stamp
        try:
            new = load_agreements(self.agreements_path)
        except ConfigError as exc:
            log.error("agreements not reloaded, the terms in force stay: %s", exc)
            return False
        lines = diff_agreements(self.agreements, new)
        for line in lines:
            log.info("%s", line)
        if not lines:
            log.info("agreements file reloaded: no change")
            return False
        added = sorted(set(self.topics(new)) - set(self.topics()))
        if added:
            self.on_new_topics(added)
        self.agreements = new
        return True

    def handle(self, msgs: Sequence[Message], now: dt.datetime) -> list[Outbound]:
        """The messages to produce for ``msgs`` (shared records, retractions, audit, dead
        letters)."""
        out: list[Outbound] = []
        for msg in msgs:
            value = msg.value() or b""
            where = (str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
            enriched: Mapping[str, Any] = {}
            try:
                if where[0] == self.suppressions_topic:
                    _, suppressed = self.codec.decode(value, expect=SUPPRESSION)
                    ex = self.exchange
                    plan = plan_retraction(suppressed, self.agreements, self.keys, now, ex)
                    if plan.error is not None and plan.error[0] == "exchange_no_key":
                        plan = Plan()  # no key when it occurred: it was never shared
                    enriched = {"contact": suppressed}
                else:
                    _, enriched = self.codec.decode(value, expect=ENRICHED_CONTACT)
                    plan = plan_event(enriched, self.agreements, self.keys, now, self.exchange)
                if plan.error is None:
                    out.extend(encode_plan(plan, self.codec))
                    self.totals["shared"] += len(plan.partners)
            except FieldstreamError as exc:
                plan = Plan(error=("exchange_error", f"{type(exc).__name__}: {exc}"[:500]))
            self.totals["events"] += 1
            if plan.error is not None:
                self.totals["dead"] += 1
                contact = enriched.get("contact")
                letter = dead_letter(value, where, *plan.error, at=now, contact=contact)
                key = letter["dead_letter_id"].encode()
                out.append((self.dlq_topic, key, self.codec.encode(DEAD_LETTER, letter)))
        return out

    def deliver(self, records: Sequence[Outbound]) -> None:
        """Produce ``records``; return once the broker acked every one (failures re-sent)."""
        self.writer.deliver_blocking((topic, None, key, value) for topic, key, value in records)

    def _due(self, now: dt.datetime) -> list[Message]:
        delay = self.exchange.release_delay_s
        limit = (now.timestamp() - delay) * 1000
        due: list[Message] = []
        while self._pending and len(due) < self.exchange.batch_max:
            ts = self._pending[0].timestamp()[1]
            if delay and ts > 0 and ts > limit:
                break
            due.append(self._pending.popleft())
        return due

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        kept = [m for m in self._pending if (m.topic(), m.partition()) not in gone]
        self._pending = deque(kept)  # not committed: the next owner reads them again

    def _commit(self, consumer: Consumer, msgs: Sequence[Message]) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            last[(str(m.topic()), int(m.partition() or 0))] = int(m.offset() or 0)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # redelivered: the same records again, deduped downstream
            log.warning("commit failed (the batch will be redelivered): %s", exc)

    def run(self, poll_timeout_s: float = 0.05) -> None:
        """Consume until :meth:`stop`."""
        try:
            consumer = Consumer(self.consumer_conf)
            consumer.subscribe(
                [
                    *self.enriched_topics,
                    *([self.suppressions_topic] if self.suppressions_topic else []),
                ],
                on_revoke=self._on_revoke,
            )
        except KafkaException as exc:
            raise BrokerError(f"the exchange agent cannot subscribe: {exc}") from exc
        self.started.set()
        paused = False
        try:
            while not self.stop_event.is_set():
                self.maybe_reload()
                if len(self._pending) >= self.max_pending and not paused:
                    consumer.pause(consumer.assignment())
                    paused = True
                for msg in consumer.consume(self.exchange.batch_max, poll_timeout_s):
                    err = msg.error()
                    if err is None:
                        self._pending.append(msg)
                    elif err.fatal():
                        raise BrokerError(f"the exchange consumer failed: {err}")
                now = self.clock()
                batch = self._due(now)
                if not batch:
                    continue
                t0 = time.perf_counter()
                records = self.handle(batch, now)
                self.deliver(records)
                self._commit(consumer, batch)
                if paused and len(self._pending) < self.max_pending // 2:
                    consumer.resume(consumer.assignment())
                    paused = False
                ms, n = (time.perf_counter() - t0) * 1000, len(records)
                log.info("batch: %d events, %d out, %.1f ms %s", len(batch), n, ms, self.totals)
        finally:
            self.writer.close()  # flush, up to 10s
            consumer.close()

    def stop(self) -> None:
        self.stop_event.set()
