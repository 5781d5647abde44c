"""The stream's memory of accepted event ids: a changelogged Faust table behind
:class:`streams.logic.dedupe.Dedupe`.

Marking follows the stage's rule (an id is marked seen only after its output was acked): the
changelog records are produced and acked first, and only then does the local table change, so
a retried batch never finds ids marked locally that the changelog lacks. Each key lives in the
changelog partition of its raw event; expiry writes tombstones to the same partition.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import orjson
from faust.types import EventT

from core.producer import KafkaWriter, Record
from streams.logic.dedupe import Dedupe

log = logging.getLogger(__name__)


def json_key(event_id: str) -> bytes:
    """The changelog key faust's JSON key serializer reads back as ``event_id``."""
    return orjson.dumps(event_id)


class SeenIds:
    """Accepted event ids (id -> first-seen ms), changelogged, with a horizon."""

    def __init__(self, app: faust.App, horizon_s: float, writer: KafkaWriter) -> None:
        # JSON keys and values: faust's default for str and int
        self.table: Any = app.Table(
            "dedupe", key_type=str, value_type=int, on_changelog_event=self._on_changelog_event
        )
        self.changelog_topic: str = self.table.changelog_topic.get_topic_name()
        self.dedupe = Dedupe(self.table.data, horizon_s)
        self.writer = writer
        self._partition_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.dedupe)

    def is_seen(self, event_id: str) -> bool:
        return self.dedupe.is_duplicate(event_id)

    def changelog(self, accepted: list[tuple[str, int]], now: int) -> list[Record]:
        """The changelog records marking (event id, raw partition) pairs seen at ``now``:
        deliver them (after the outputs were acked), then :meth:`apply`."""
        stamp = str(now).encode()
        topic = self.changelog_topic
        return [(topic, p, json_key(event_id), stamp) for event_id, p in accepted]

    def apply(self, accepted: list[tuple[str, int]], now: int) -> None:
        """Mark the pairs seen locally, once their changelog records were acked."""
        mark, partition_of = self.dedupe.mark_seen, self._partition_of
        for event_id, p in accepted:
            mark(event_id, now)
            partition_of[event_id] = p

    async def mark(self, accepted: list[tuple[str, int]], now: int) -> None:
        """Mark (event id, raw partition) pairs seen at ``now``: changelog first, acked."""
        await self.writer.deliver(self.changelog(accepted, now))
        self.apply(accepted, now)

    def expire(self, now: int) -> int:
        """Forget ids older than the horizon; their tombstones go to the changelog."""
        expired = self.dedupe.expire(now)
        for event_id in expired:
            partition = self._partition_of.pop(event_id, None)
            if partition is not None:
                self.writer.produce_quietly(
                    self.changelog_topic, partition, json_key(event_id), None
                )
        if expired:
            log.info("dedupe: %d ids expired, %d kept", len(expired), len(self.dedupe))
        return len(expired)

    async def _on_changelog_event(self, event: EventT) -> None:
        """During recovery: remember which partition holds each key (for expiry)."""
        key = event.key
        if isinstance(key, str):
            if event.message.value is None:
                self._partition_of.pop(key, None)
            else:
                self._partition_of[key] = event.message.partition
