"""Stable identifiers: the same contact from the same tool always gets the same event id."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

# fixed forever: changing it would re-key every event
EVENT_NAMESPACE = uuid.UUID("6f0c7d2e-5a51-4d8e-9a43-0b6f1d2c9e11")


def event_id_for(org_id: str, source_system: str, source_event_id: str) -> str:
    """UUIDv5 of org, source system and the source's own id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{org_id}\x1f{source_system}\x1f{source_event_id}"))


def voter_key(state: str, voter_id: str) -> str:
    """The key of a voter on the voters topic and in the stream's voter table."""
    return f"{state.upper()}:{voter_id}"


def event_id_from_key(key: bytes | None) -> str | None:
    """A message key read as an event id (contacts are keyed by theirs), trusted only when it
    is a well-formed UUID."""
    if not key or len(key) > 64:
        return None
    try:
        return str(uuid.UUID(key.decode("ascii")))
    except (UnicodeDecodeError, ValueError):
        return None


def dedupe_key(event_id: str, unmapped_responses: Iterable[Mapping[str, Any]] = ()) -> str:
    """What the stream remembers an accepted event by: its id, and for a partial contact (some
    survey responses its source's map could not read) a digest of those responses too.

    So a retried partial contact is a duplicate, while the same contact with fewer (or no)
    unmapped responses, sent again once the map learned them (``fieldstream dlq replay``),
    passes and fills the contact in: same event id, so it replaces the partial row and counts
    once."""
    held = sorted(
        f"{r['question']}\x1f{r['answer']}\x1f{r['reason_code']}" for r in unmapped_responses
    )
    if not held:
        return event_id
    digest = hashlib.sha256("\x1e".join(held).encode()).hexdigest()[:16]
    return f"{event_id}~{digest}"


def event_id_of(key: str) -> str:
    """The event id a :func:`dedupe_key` was made from."""
    return key.partition("~")[0]


# dedupe_key, as a ClickHouse expression over contact_events (the sink's ledger reads what the
# store holds with it): the same key for the same row, tested against the function above
DEDUPE_KEY_SQL = (
    "if(empty(unmapped_responses.question), event_id, concat(event_id, '~', "
    "substring(lower(hex(SHA256(arrayStringConcat(arraySort(arrayMap("
    "(q, a, r) -> concat(q, '\\x1f', a, '\\x1f', r), unmapped_responses.question, "
    "unmapped_responses.answer, unmapped_responses.reason_code)), '\\x1e')))), 1, 16)))"
)
