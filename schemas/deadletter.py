"""The DeadLetter record (schemas/avro/...DeadLetter.avsc) every stage builds the same way: the
stream, the exchange, and the gateway and importers (producers/intake.py). Each caller keeps its
own reason text and decides the ids; this lays out the record and says what identifies it."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any


def dead_letter_record(
    original: bytes,
    *,
    stage: str,
    code: str,
    reason: str,
    where: tuple[str, int, int],
    event_id: str | None,
    org_id: str | None,
    source_system: str | None,
    failed_at: int | dt.datetime,
    index: int = 0,
    counted: bool = False,
) -> dict[str, Any]:
    """The Avro-ready DeadLetter (encode with DEAD_LETTER); ``where`` is the source topic,
    partition and offset, ``failed_at`` epoch milliseconds or an aware datetime, ``index``
    the item's place in its request (for letters with no event id). ``counted``: the contact
    itself was counted and only the parts the reason names are held."""
    letter = {
        "original": original,
        "reason": reason,
        "reason_code": code,
        "stage": stage,
        "event_id": event_id,
        "org_id": org_id,
        "source_system": source_system,
        "source_topic": where[0],
        "source_partition": where[1],
        "source_offset": where[2],
        "failed_at": failed_at,
        "counted": counted,
    }
    letter["dead_letter_id"] = dead_letter_key(letter, index)
    return letter


def dead_letter_key(letter: dict[str, Any], index: int = 0) -> str:
    """What a dead letter is, independent of where and when it was read: its stage and event
    id, or (no event id) a digest of its original bytes, reason code and its index among the
    items of one request. The same refused event sent again is the same dead letter; it is
    the message key on contacts.dlq and the dead_letters table's identity."""
    if letter.get("event_id"):
        return f"{letter['stage']}:{letter['event_id']}"
    digest = hashlib.sha256()
    digest.update(letter["original"] or b"")
    digest.update(f"\x1f{letter['reason_code']}\x1f{index}".encode())
    return f"{letter['stage']}:sha256:{digest.hexdigest()[:40]}"
