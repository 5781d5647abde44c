"""The per-event work of the stream stage, as plain functions.

:func:`process_one` turns one raw ``contacts.raw`` message into an :class:`Outcome`: the
encoded EnrichedContact, the encoded DeadLetter (with stage, reason and the original bytes),
or a dropped duplicate. Any failure becomes a dead letter (Faust acks an event even when
the agent raised on it); it raises only if not even a dead letter can be encoded, a bug the
agent answers by retrying the batch. :func:`process_batch` runs it over a batch,
catching duplicates inside the batch too. Nothing here touches Kafka.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.config import Programs
from core.errors import SchemaError
from schemas import DEAD_LETTER, AvroCodec
from schemas.deadletter import dead_letter_record
from schemas.ids import dedupe_key, event_id_from_key
from streams.logic.enrich import EnrichedEncoder, person_voter_key
from streams.logic.validate import validate

log = logging.getLogger(__name__)

ENRICHED = "enriched"
DLQ = "dlq"
DUPLICATE = "duplicate"

Message = tuple[bytes | None, bytes | None, str, int, int]
"""(value, key, topic, partition, offset) of one raw message."""


@dataclass(frozen=True)
class Context:
    """What the per-event work needs; built once per worker."""

    codec: AvroCodec
    programs: Programs
    voter_bytes: Callable[[str], bytes | None]
    """The encoded Voter stored under a voter key (the voter directory), or None."""
    is_seen: Callable[[str], bool]
    """Whether a dedupe key (schemas.ids.dedupe_key) was accepted before (the dedupe table)."""
    future_skew_s: float
    encoder: EnrichedEncoder

    @classmethod
    def build(
        cls,
        codec: AvroCodec,
        programs: Programs,
        voter_bytes: Callable[[str], bytes | None],
        is_seen: Callable[[str], bool],
        future_skew_s: float = 300.0,
    ) -> Context:
        return cls(codec, programs, voter_bytes, is_seen, future_skew_s, EnrichedEncoder(codec))


@dataclass(slots=True)
class Outcome:
    kind: str
    """ENRICHED, DLQ or DUPLICATE."""
    key: bytes | None = None
    value: bytes | None = None
    """Encoded EnrichedContact (kind ENRICHED) or DeadLetter (kind DLQ)."""
    event_id: str | None = None
    reason_code: str | None = None
    source_system: str | None = None
    voter_matched: bool = False
    seen_key: str | None = None
    """What to mark seen once the output is acked: the event id, or for a partial contact the
    id and its unmapped responses (schemas.ids.dedupe_key)."""


@dataclass(slots=True)
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {ENRICHED: 0, DLQ: 0, DUPLICATE: 0})

    @property
    def accepted_ids(self) -> list[str]:
        """Dedupe keys of the enriched outcomes: mark these seen once their output is acked."""
        return [o.seen_key for o in self.outcomes if o.kind == ENRICHED and o.seen_key]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def process_one(
    raw: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    ctx: Context,
    *,
    now: int | None = None,
    seen_in_batch: set[str] | None = None,
) -> Outcome:
    """Decode, dedupe, validate and enrich one raw message; failures become dead letters."""
    at = now if now is not None else now_ms()
    where = (topic, partition, offset)
    try:
        return _process(raw, key, where, ctx, at, seen_in_batch)
    except Exception as exc:  # building the dead letter itself failed: one bare retry
        return _internal(ctx, raw, key, where, at, "enrich", exc, None)


def _process(
    raw: bytes | None,
    key: bytes | None,
    where: tuple[str, int, int],
    ctx: Context,
    at: int,
    seen_in_batch: set[str] | None,
) -> Outcome:
    if not raw:
        return _dead(ctx, raw, key, where, at, "decode", "empty_value", _EMPTY_REASON, None)
    try:
        record, spliceable = ctx.encoder.decode_contact(raw)
    except SchemaError as exc:
        reason = f"cannot decode the event as a ContactEvent: {exc}"
        return _dead(ctx, raw, key, where, at, "decode", "undecodable", reason, None)
    except Exception as exc:  # a codec bug must not lose the event
        return _internal(ctx, raw, key, where, at, "decode", exc, None)
    try:
        event_id = str(record["event_id"])
        seen_key = dedupe_key(event_id, record.get("unmapped_responses") or ())
        if ctx.is_seen(seen_key) or (seen_in_batch is not None and seen_key in seen_in_batch):
            return Outcome(DUPLICATE, event_id=event_id, source_system=record["source_system"])
    except Exception as exc:
        return _internal(ctx, raw, key, where, at, "dedupe", exc, record)
    try:
        rejected = validate(record, ctx.programs, ctx.future_skew_s)
    except Exception as exc:
        return _internal(ctx, raw, key, where, at, "validate", exc, record)
    if rejected is not None:
        code, reason = rejected
        return _dead(ctx, raw, key, where, at, "validate", code, reason, record)
    try:
        vkey = person_voter_key(record["person"])
        voter = ctx.voter_bytes(vkey) if vkey is not None else None
        value = ctx.encoder.encode(spliceable, record, voter, at)
    except Exception as exc:
        return _internal(ctx, raw, key, where, at, "enrich", exc, record)
    if seen_in_batch is not None:
        seen_in_batch.add(seen_key)
    return Outcome(
        ENRICHED,
        key=event_id.encode(),
        value=value,
        event_id=event_id,
        source_system=record["source_system"],
        voter_matched=voter is not None,
        seen_key=seen_key,
    )


def process_batch(messages: Iterable[Message], ctx: Context, now: int | None = None) -> BatchResult:
    """:func:`process_one` over a batch; a repeat of an id accepted earlier in it is a duplicate."""
    at = now if now is not None else now_ms()
    seen: set[str] = set()
    result = BatchResult()
    add = result.outcomes.append
    counts = result.counts
    for value, key, topic, partition, offset in messages:
        outcome = process_one(value, key, topic, partition, offset, ctx, now=at, seen_in_batch=seen)
        counts[outcome.kind] += 1
        add(outcome)
    return result


_EMPTY_REASON = (
    "the message has no value (a tombstone or an empty body): the producer sent no event"
)


def _internal(
    ctx: Context,
    raw: bytes | None,
    key: bytes | None,
    where: tuple[str, int, int],
    at: int,
    stage: str,
    exc: Exception,
    record: dict[str, Any] | None,
) -> Outcome:
    # the exception text may quote event data: log and keep only its type
    log.error(
        "internal error in stage %s at %s[%d]@%d: %s",
        stage,
        *where,
        type(exc).__name__,
    )
    reason = (
        f"internal error in the stream's {stage} stage ({type(exc).__name__}); the event "
        "itself may be fine: report it with this record's source topic, partition and offset, "
        "and replay it after the fix"
    )
    return _dead(ctx, raw, key, where, at, stage, "internal_error", reason, record)


def _dead(
    ctx: Context,
    raw: bytes | None,
    key: bytes | None,
    where: tuple[str, int, int],
    at: int,
    stage: str,
    code: str,
    reason: str,
    record: dict[str, Any] | None,
) -> Outcome:
    event_id = str(record["event_id"]) if record is not None else event_id_from_key(key)
    org_id = record.get("org_id") if record is not None else None
    source_system = record.get("source_system") if record is not None else None
    letter = dead_letter_record(
        raw or b"",
        stage=stage,
        code=code,
        reason=reason,
        where=where,
        event_id=event_id,
        org_id=org_id,
        source_system=source_system,
        failed_at=at,
    )
    return Outcome(
        DLQ,
        key=letter["dead_letter_id"].encode(),
        value=ctx.codec.encode(DEAD_LETTER, letter),
        event_id=event_id,
        reason_code=code,
        source_system=source_system,
    )
