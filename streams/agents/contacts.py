"""The contacts agent: contacts.raw -> validate, dedupe, enrich -> contacts.enriched / .dlq.

Per batch (``noack_take``, concurrency 1):

1. :func:`streams.logic.process.process_batch` turns every raw message into an outcome;
2. enriched records and dead letters are produced with confluent-kafka and their broker
   acks awaited (failed deliveries are produced again until they succeed);
3. only then are the accepted event ids marked seen in the dedupe table (its changelog
   records produced and acked the same way);
4. only then are the source events acked, so faust may commit past them.

A crash between any two steps re-delivers the batch; the sink is idempotent. No exception
leaves the agent: a failing batch is retried from step 1 after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Sequence
from typing import Any, cast

import faust
from faust.tables.manager import TableManager
from faust.types import EventT, StreamT
from faust.web import Request, Response, View
from mode.types.signals import BaseSignalT

from core.config import load_programs
from core.kafka import producer_config
from core.producer import KafkaWriter, Record
from core.settings import Settings
from core.watch import WatchedFile
from schemas.registry import codec_for
from streams.logic.process import DLQ, DUPLICATE, ENRICHED, Context, now_ms, process_batch
from streams.metrics import CONTENT_TYPE_LATEST, StreamMetrics
from streams.seen import SeenIds
from streams.voters import VoterDirectory, open_voter_store

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 1.0


class ContactsStage:
    """State of one worker's contacts agent: context, dedupe table, voters, producer."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        s, kafka = settings.stream, settings.kafka
        self.app = app
        self.settings = settings
        self.topics = kafka.topics
        self.codec = codec_for(kafka.schema_registry_url)  # registry framing when it is set
        self.programs = WatchedFile(s.programs_file, load_programs, "programs")
        self.metrics = StreamMetrics()
        self.done_offsets: dict[tuple[str, int], int] = {}  # raw partition -> next to process
        self.voters = VoterDirectory(
            {"bootstrap.servers": kafka.bootstrap_servers},
            kafka.topics.voters,
            self.codec,
            store=open_voter_store(s),  # memory, or RocksDB resumed from its stored offsets
        )
        self.writer = KafkaWriter(producer_config(kafka), retries=self.metrics.delivery_retries)
        self.seen = SeenIds(app, s.dedupe_horizon_s, self.writer)
        self.ctx = Context.build(
            codec=self.codec,
            programs=self.programs.value,
            voter_bytes=self.voters.get_bytes,
            is_seen=self.seen.is_seen,
            future_skew_s=s.future_skew_s,
        )
        if not self.ctx.encoder.splicing:
            log.info("enriched records are encoded by the codec (no splicing with this framing)")
        self.agent_started = False

    # -- readiness -----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return (
            self.agent_started
            and self.voters.caught_up
            and cast(TableManager, self.app.tables).recovery.completed.is_set()
        )

    async def wait_for_voters(self) -> None:
        self.voters.start()
        waited = 0.0
        while not await asyncio.to_thread(self.voters.wait_caught_up, 5.0):
            waited += 5.0
            log.info("waiting for the voter directory to catch up (%.0fs)", waited)
        self.metrics.voters.set(len(self.voters.store))

    # -- the batch ------------------------------------------------------------------------

    async def handle(self, events: Sequence[EventT], stream: StreamT) -> None:
        """Process, write, mark and ack one batch; retried until it succeeds."""
        attempt = 0
        while True:
            try:
                await self._handle_once(events, stream)
                return
            except Exception as exc:  # Faust would ack the batch: never let it escape
                attempt += 1
                log.error(
                    "batch of %d events failed (attempt %d, %s); retrying in %.0fs",
                    len(events),
                    attempt,
                    type(exc).__name__,
                    RETRY_PAUSE_S,
                )
                await asyncio.sleep(RETRY_PAUSE_S)

    async def _handle_once(self, events: Sequence[EventT], stream: StreamT) -> None:
        started = time.perf_counter()
        messages = [
            (m.value, m.key, m.topic, m.partition, m.offset) for m in (e.message for e in events)
        ]
        now = now_ms()
        result = process_batch(messages, self.ctx, now)
        t = self.topics
        outputs: list[Record] = [
            (t.enriched if o.kind == ENRICHED else t.dlq, None, o.key, o.value)
            for o in result.outcomes
            if o.kind != DUPLICATE
        ]
        await self.writer.deliver(outputs)
        # outputs are acked: now the ids may be marked seen (never before)
        accepted = [
            (o.seen_key, msg[3])
            for o, msg in zip(result.outcomes, messages, strict=True)
            if o.kind == ENRICHED and o.seen_key is not None
        ]
        await self.seen.mark(accepted, now)
        for event in events:
            await stream.ack(event)
        done = self.done_offsets
        for _value, _key, topic, partition, offset in messages:
            if offset >= done.get((topic, partition), -1):
                done[(topic, partition)] = offset + 1
        seconds = time.perf_counter() - started
        self.metrics.observe_batch(result, seconds)
        self.metrics.dedupe_keys.set(len(self.seen))
        c = result.counts
        unmatched = sum(1 for o in result.outcomes if o.kind == ENRICHED and not o.voter_matched)
        log.info(
            "batch: %d in, %d enriched (%d unmatched), %d dead-lettered, %d duplicates, %.1f ms",
            len(events),
            c[ENRICHED],
            unmatched,
            c[DLQ],
            c[DUPLICATE],
            seconds * 1000,
        )

    # -- housekeeping ---------------------------------------------------------------------

    async def measure_lag(self, consumer: Any) -> None:
        """Processing lag per raw partition: the high watermark aiokafka saw in its last fetch
        (not ListOffsets, which Tansu answers too low) minus the next offset to process (the
        last processed + 1, or the consumer's position before anything was processed)."""
        for tp in list(consumer.assignment()):
            if tp.topic != self.topics.raw:
                continue
            high = consumer.highwater(tp)
            done = self.done_offsets.get((tp.topic, tp.partition))
            if done is None:
                done = await consumer.position(tp)
            if high is not None and done is not None and high >= 0 and done >= 0:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - done))

    def reload_programs(self, force: bool = False) -> None:
        """Pick up an edited programs.yaml (checked every 5 s; ``force`` on SIGHUP); a broken
        edit is refused, logged, and the previous one kept."""
        if self.programs.refresh(force):
            self.ctx = dataclasses.replace(self.ctx, programs=self.programs.value)

    async def stop(self) -> None:
        # faust sends on_before_shutdown after its consumer stopped fetching and every event
        # handed to the agent was acked (stream_wait_empty), so no batch reads the store now;
        # the refresh timer reads only its count, which a closed store still answers
        self.voters.stop()
        self.voters.store.close()  # we opened it (open_voter_store): flush and unlock it
        await asyncio.to_thread(self.writer.close)


def register(app: faust.App, settings: Settings) -> ContactsStage:
    """Declare the contacts agent, its timers and the /healthz and /metrics pages on ``app``."""
    s = settings.stream
    stage = ContactsStage(app, settings)
    raw = app.topic(
        settings.kafka.topics.raw,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(raw, concurrency=1)
    async def contacts(stream: StreamT) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: stage.reload_programs(force=True)
            )
        await stage.wait_for_voters()
        stage.agent_started = True
        # noack_take yields the buffered events (not values) and leaves the acks to us
        taker = cast("faust.Stream[Any]", stream)
        async for batch in taker.noack_take(s.batch_max, within=s.batch_within_s):
            await stage.handle(cast("list[EventT]", batch), stream)

    expire_every = min(3600.0, max(10.0, s.dedupe_horizon_s / 100))

    @app.timer(expire_every)
    async def expire_dedupe() -> None:
        try:
            stage.seen.expire(now_ms())
            stage.metrics.dedupe_keys.set(len(stage.seen))
        except Exception as exc:
            log.error("dedupe expiry failed: %s", type(exc).__name__)

    @app.timer(5.0)
    async def refresh() -> None:
        try:
            stage.reload_programs()
            stage.metrics.voters.set(len(stage.voters.store))
            stage.metrics.dedupe_keys.set(len(stage.seen))
            await stage.measure_lag(app.consumer)
        except Exception as exc:
            log.error("periodic refresh failed: %s", type(exc).__name__)

    @app.page("/healthz")
    async def healthz(web: View, request: Request) -> Response:
        ready = stage.ready
        body: dict[str, Any] = {
            "ready": ready,
            "voters_caught_up": stage.voters.caught_up,
            "agent_started": stage.agent_started,
        }
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        # aiohttp refuses a charset in content_type=; a header passes it through as is
        return web.bytes(stage.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.on_before_shutdown.connect
    async def _stop(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        await stage.stop()

    return stage
