"""An :class:`Unmapped` item -> a DeadLetter record (schemas/avro/...DeadLetter.avsc).

Shared by the importers and the webhook gateway: a well-formed payload whose code the source's
map does not know is not guessed; it goes to the DLQ with the original bytes and a reason a
data manager can act on (add the code to the map, replay).

For importers the "topic" is ``import:<file name>``, the partition -1 and the offset the line
number of the row, so a DLQ reader can find the row in the file.
"""

from __future__ import annotations

from typing import Any

from producers.adapters.base import Unmapped
from schemas.ids import event_id_for
from streams.logic.deadletter import dead_letter_record

STAGE = "gateway"
IMPORT_PARTITION = -1


def dead_letter(
    original: bytes,
    unmapped: Unmapped,
    *,
    org_id: str,
    source_system: str,
    source_topic: str,
    offset: int,
    now_ms: int,
    partition: int = IMPORT_PARTITION,
) -> dict[str, Any]:
    """The Avro-ready DeadLetter record for ``unmapped`` (encode with DEAD_LETTER)."""
    event_id = (
        event_id_for(org_id, source_system, unmapped.source_event_id)
        if unmapped.source_event_id
        else None
    )
    return dead_letter_record(
        original,
        stage=STAGE,
        code=unmapped.reason_code,
        reason=unmapped.reason,
        where=(source_topic, partition, offset),
        event_id=event_id,
        org_id=org_id,
        source_system=source_system,
        failed_at=now_ms,
    )


def import_topic(file_name: str) -> str:
    """The DeadLetter ``source_topic`` of rows read from a file (or an API) by an importer."""
    return f"import:{file_name}"
