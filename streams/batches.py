"""Whole fetched batches inside Faust: one Faust message per fetched run of a partition.

Faust's worker hands an agent one event per Kafka record. On the way every record becomes an
aiokafka ``ConsumerRecord``, then a Faust ``Message`` (with the tracking, sensors and monitor
calls of each), is awaited through ``Service.wait_first`` into the conductor, decoded into an
``Event``, queued into the agent's channel, iterated through the stream's processors, buffered
by ``take`` and finally acked one by one (a lock, a set and a list per record, then sorted and
walked again at every commit). For the contacts stage, which works on batches anyway, that
machinery cost several times the work itself.

Here, for the topics named in ``batch_topics`` (contacts.raw), the consumer delivers one Faust
message per partition per fetch whose value is a :class:`RawBatch`:

* aiokafka's partition records for those topics yield plain ``(value, key, topic, partition,
  offset)`` tuples (:class:`RawPartitionRecords`, the tuple
  :func:`streams.logic.process.process_batch` takes), not ``ConsumerRecord`` objects;
* :class:`BatchDelivery` (mixed into the Faust consumer) turns each fetched list into one
  message whose offset is the batch's last offset, and remembers each batch's offset range;
* acking that one message acks the whole range: the committable offset of a partition is the
  end of the run of processed ranges from its last commit (no per-record bookkeeping, no gap
  tree); a batch Faust dropped on the way is read again (see :class:`BatchDelivery`).

Everything else is Faust's as it ships: group membership, rebalancing, the dedupe table and its
changelog recovery (changelog records still arrive one by one), flow control, commits on
Faust's interval, the web server. The agent still acks explicitly (``noack``): a batch is
acked only after its outputs and seen marks were acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
from faust.transport.consumer import ConsumerMessage
from faust.types import TP, Message

from streams.logic.process import Message as RawMessage

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RawBatch:
    """The records of one fetched run of one partition, as process_batch takes them."""

    topic: str
    partition: int
    messages: list[RawMessage]

    @property
    def first(self) -> int:
        return self.messages[0][4]

    @property
    def last(self) -> int:
        return self.messages[-1][4]


class RawPartitionRecords(PartitionRecords):
    """aiokafka's partition records yielding ``(value, key, topic, partition, offset)``."""

    def _consumer_record(self, tp: Any, record: Any) -> RawMessage:
        return (record.value, record.key, tp.topic, tp.partition, record.offset)


class RawFetchResults(dict[Any, Any]):
    """Stands in for aiokafka's ``Fetcher._records`` (tp -> FetchResult or FetchError): the
    partition records of ``topics`` yield raw tuples, set as each fetch result arrives (before
    anything read it)."""

    def __init__(self, topics: Iterable[str], existing: dict[Any, Any]) -> None:
        super().__init__()
        self.topics = frozenset(topics)
        for tp, result in existing.items():
            self[tp] = result

    def __setitem__(self, tp: Any, result: Any) -> None:
        if tp.topic in self.topics and type(result) is FetchResult:
            records = result._partition_records
            if type(records) is PartitionRecords:
                records.__class__ = RawPartitionRecords  # same layout, one method differs
        super().__setitem__(tp, result)


def raw_fetches(fetcher: Any, topics: Iterable[str]) -> None:
    """Make ``fetcher`` (an aiokafka Fetcher) deliver ``topics`` as raw tuples."""
    if not hasattr(fetcher, "_records") or not hasattr(PartitionRecords, "_consumer_record"):
        raise RuntimeError(
            "this aiokafka has no Fetcher._records / PartitionRecords._consumer_record; "
            "streams/batches.py needs updating for it"
        )
    fetcher._records = RawFetchResults(topics, dict(fetcher._records))


def as_raw(tp: TP, records: list[Any]) -> list[RawMessage]:
    """The fetched records as tuples (they already are, unless the fetch came in before the
    raw hook was set)."""
    if not records or type(records[0]) is tuple:
        return records
    return [(r.value, r.key, tp.topic, tp.partition, r.offset) for r in records]


class BatchDelivery:
    """Mixed into Faust's consumer: the topics in ``batch_topics`` arrive as one message per
    partition per fetch, acked as a whole (see the module doc).

    Commits cover only what was processed: each acked batch adds its offset range to the
    partition's processed ranges, and the committable offset is the end of the run of
    processed ranges that starts at the last commit (or the position sought to). A batch that
    was delivered but never reached the agent (Faust clears the agents' queues when it
    resumes the flow after a rebalance, even a batch fetched after its seek) leaves a hole:
    later batches are processed, that one is not. The partition is then read again from the
    hole (what was processed comes again and is dropped as a duplicate downstream), at most
    once per ``reread_every_s``.

    Its state and Faust's (``_acked``, ``_acked_index``, ``_committed_offset``) are only
    touched from the worker's event loop.
    """

    batch_topics: frozenset[str] = frozenset()
    reread_every_s: float = 5.0
    # provided by faust's Consumer
    app: Any
    flow_active: bool
    should_stop: bool
    scheduler: Any
    _acked: Any
    _acked_index: Any
    _committed_offset: Any
    _buffered_partitions: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # per batch partition: processed offset ranges not yet committed (sorted, merged),
        # the offset the next commit starts from, and when it was last read again
        self._done: dict[TP, list[list[int]]] = defaultdict(list)
        self._base: dict[TP, int] = {}
        self._reread_at: dict[TP, float] = {}
        self._rereads: set[asyncio.Future[None]] = set()
        super().__init__(*args, **kwargs)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's getmany, with one message per fetched batch of a batch topic."""
        records, active = await self._wait_next_records(timeout)  # type: ignore[attr-defined]
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            # as faust: records fetched while the flow is stopped are dropped, and the
            # partitions sought back to their committed offsets
            try:
                await self.perform_seek()
            except Exception as exc:
                log.warning("exception performing seek when flow not active: %r", exc)
            return
        app = self.app
        generation = app.consumer_generation_id
        others: dict[TP, list[Any]] = {}
        for tp, fetched in records.items():
            if not self.flow_active or app.consumer_generation_id != generation:
                return
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            app.monitor.track_tp_end_offset(tp, self.highwater(tp))  # type: ignore[attr-defined]
            if tp.topic not in self.batch_topics:
                others[tp] = fetched
            elif fetched:
                yield tp, self._batch_message(tp, as_raw(tp, fetched))
        to_message = self._to_message  # type: ignore[attr-defined]
        for tp, record in self.scheduler.iterate(others):
            if not self.flow_active or app.consumer_generation_id != generation:
                return
            yield tp, to_message(tp, record)

    def _batch_message(self, tp: TP, messages: list[RawMessage]) -> ConsumerMessage:
        batch = RawBatch(tp.topic, tp.partition, messages)
        self._base.setdefault(tp, batch.first)  # nothing committed: the first one read
        return ConsumerMessage(
            tp.topic,
            tp.partition,
            batch.last,
            time.time(),
            0,
            [],
            None,
            batch,  # type: ignore[arg-type]
            None,
            0,
            0,
            tp,
            generation_id=self.app.consumer_generation_id,
        )

    # -- acks by offset range ---------------------------------------------------------------

    def ack(self, message: Message) -> bool:
        batch = message.value
        if isinstance(batch, RawBatch):
            add_range(self._done[message.tp], batch.first, batch.last)
        return bool(super().ack(message))  # type: ignore[misc]

    def _new_offset(self, tp: TP) -> int | None:
        """For a batch topic: the end of the processed run that starts where the last commit
        ended; otherwise faust's own answer."""
        if tp.topic not in self.batch_topics:
            return super()._new_offset(tp)  # type: ignore[misc]
        self._acked[tp].clear()  # faust's per-offset lists: the ranges say it all here
        self._acked_index[tp].clear()
        base, done = self._base.get(tp), self._done[tp]
        if base is None:
            return None
        new: int | None = None
        while done and done[0][0] <= base:
            _first, last = done.pop(0)
            if last >= base:
                base = last + 1
                new = base
        self._base[tp] = base
        if done and new is None:
            self._hole(tp, base)
        return new

    def _hole(self, tp: TP, base: int) -> None:
        """Later batches were processed but not the one at ``base``: read again from there."""
        now = time.monotonic()
        if now < self._reread_at.get(tp, 0.0):
            return
        self._reread_at[tp] = now + self.reread_every_s
        log.warning(
            "%s:%d: the batch at offset %d never reached the agent; reading again from there",
            tp.topic,
            tp.partition,
            base,
        )
        self._reread(tp, base)

    def _reread(self, tp: TP, offset: int) -> None:
        task = asyncio.ensure_future(self.seek(tp, offset))
        self._rereads.add(task)
        task.add_done_callback(self._rereads.discard)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """A batch topic's message offsets jump by design: no gap to remember."""
        if tp.topic not in self.batch_topics:
            await super()._add_gap(tp, offset_from, offset_to)  # type: ignore[misc]

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._done.pop(tp, None)
            self._base.pop(tp, None)
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]

    async def perform_seek(self) -> None:
        await super().perform_seek()  # type: ignore[misc]
        for tp in list(self._base):  # commits start again from the committed offsets
            committed = self._committed_offset.get(tp)
            if committed is None:
                self._base.pop(tp)
            else:
                self._base[tp] = committed

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)  # type: ignore[misc]
        if partition.topic in self.batch_topics:
            self._base[partition] = offset


def add_range(ranges: list[list[int]], first: int, last: int) -> None:
    """Add [first, last] to sorted, merged ``ranges`` (adjacent ones merge too)."""
    bisect.insort(ranges, [first, last])
    merged: list[list[int]] = []
    for r in ranges:
        if merged and r[0] <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], r[1])
        else:
            merged.append(r)
    ranges[:] = merged
