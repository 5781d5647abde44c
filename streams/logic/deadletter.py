"""The DeadLetter record (schemas/avro/...DeadLetter.avsc) every stage builds the same way: the
stream, the exchange, and the importers and webhook gateway (producers/importers/deadletter.py).
Each caller keeps its own reason text and decides the ids; this only lays out the record."""

from __future__ import annotations

import datetime as dt
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
) -> dict[str, Any]:
    """The Avro-ready DeadLetter (encode with DEAD_LETTER); ``where`` is the source topic,
    partition and offset, ``failed_at`` epoch milliseconds or an aware datetime."""
    return {
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
    }
