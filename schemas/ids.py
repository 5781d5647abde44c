"""Stable identifiers: the same contact from the same tool always gets the same event id."""

from __future__ import annotations

import uuid

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
