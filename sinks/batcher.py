"""Per-partition batches on fixed offset ranges (no I/O).

A batch holds the rows of one topic-partition from ``first`` to ``last`` offset (every
message in that range, including ones that produced no row). Its deduplication token is a
pure function of that range AND of the bytes of its messages, so a retried insert of the same
batch is identical and ClickHouse drops the repeat, while a broker that starts its offsets
again at 0 (the embedded broker after a restart, a recreated topic) never makes a new batch
look like an old one. A batch is due when it holds ``batch_rows`` messages or
``flush_interval_s`` passed since its first message was ready to be read (a topic may have
limits of its own: the bulk lane's batches are large).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Row = list[Any]
Key = tuple[str, int]


@dataclass
class Batch:
    topic: str
    partition: int
    first: int
    last: int
    started: float
    messages: int = 0
    rows: dict[str, list[Row]] = field(default_factory=dict)
    received_at: list[datetime] = field(default_factory=list)
    digest: Any = field(default_factory=lambda: hashlib.blake2b(digest_size=12))

    @property
    def token(self) -> str:
        return batch_token(
            self.topic, self.partition, self.first, self.last, self.digest.hexdigest()
        )

    @property
    def commit_offset(self) -> int:
        return self.last + 1

    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def batch_token(topic: str, partition: int, first: int, last: int, digest: str = "") -> str:
    """The insert_deduplication_token of the offset range [first, last] whose messages' bytes
    hash to ``digest``."""
    return f"{topic}:{partition}:{first}-{last}:{digest}"


class Batcher:
    """Buffers rows per topic-partition and says which batches are due."""

    def __init__(
        self,
        batch_rows: int,
        flush_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        limits: dict[str, tuple[int, float]] | None = None,
    ) -> None:
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.clock = clock
        # topic -> (batch rows, flush interval) where they differ (the bulk lane's are large)
        self.limits = dict(limits or {})
        self._batches: dict[Key, Batch] = {}

    def rows_of(self, topic: str) -> int:
        """How many messages make a batch of ``topic`` due."""
        return self.limits.get(topic, (self.batch_rows, 0.0))[0]

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        table: str | None = None,
        row: Row | None = None,
        received_at: datetime | None = None,
        value: bytes | None = None,
        waited: float = 0.0,
    ) -> Batch:
        """Record message ``offset`` with its bytes (and its row for ``table``, if any);
        returns its batch. ``waited``: how long the message already waited to be read (a
        batch it opens is that much older, so it is due that much sooner)."""
        key = (topic, partition)
        batch = self._batches.get(key)
        if batch is None:
            batch = Batch(topic, partition, offset, offset, self.clock() - max(0.0, waited))
            self._batches[key] = batch
        elif offset <= batch.last:
            raise ValueError(
                f"offset {offset} of {topic}:{partition} is not after {batch.last}; "
                "batches must be contiguous offset ranges"
            )
        batch.last = offset
        batch.messages += 1
        batch.digest.update(offset.to_bytes(8, "big", signed=True))
        batch.digest.update(len(value or b"").to_bytes(4, "big"))
        batch.digest.update(value or b"")
        if table is not None and row is not None:
            batch.rows.setdefault(table, []).append(row)
        if received_at is not None:
            batch.received_at.append(received_at)
        return batch

    def is_due(self, batch: Batch, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        rows, interval = self.limits.get(batch.topic, (self.batch_rows, self.flush_interval_s))
        return batch.messages >= rows or now - batch.started >= interval

    def due(self, now: float | None = None) -> list[Batch]:
        """Batches to flush now (full, or older than the flush interval)."""
        now = self.clock() if now is None else now
        return [b for b in self._batches.values() if self.is_due(b, now)]

    def get(self, topic: str, partition: int) -> Batch | None:
        return self._batches.get((topic, partition))

    def done(self, batch: Batch) -> None:
        """Forget ``batch`` (after it was written and committed)."""
        if self._batches.get((batch.topic, batch.partition)) is batch:
            del self._batches[(batch.topic, batch.partition)]

    def drop(self, topic: str, partition: int) -> None:
        """Forget a partition's buffered rows without writing them (lost assignment)."""
        self._batches.pop((topic, partition), None)

    def pending(self) -> list[Batch]:
        return list(self._batches.values())
