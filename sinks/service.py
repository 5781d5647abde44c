"""The sink service: owns the ClickHouse store (for chDB: the data directory).

Opens the store, migrates, runs the consumer loop in a background thread and serves:
  GET  /healthz          200 {"ready": true} once migrated and consuming (503 before)
  GET  /metrics          prometheus text
  POST /query            the query door (sinks/query_api.py): one SELECT, with a credential
  POST /insert/{table}   side inputs only (goals, universes, holdouts, vote history, scores,
                         quality reviews), with the admin credential
  POST /verify           recount the boards from contact_events (?repair=1, ?since=YYYY-MM-DD),
                         with the admin credential
The consumer and the ledger keeper (sinks/keeper.py, a thread that keeps what the boards read)
write through a LockedStore; queries run on clients of their own, never under its lock, and
none starts while an insert is under way (query_api.InsertFirst).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import FieldstreamError, StoreError
from core.kafka import consumer_config, ensure_topics, producer_config
from core.producer import KafkaWriter
from core.sealing import Sealer
from core.settings import Settings
from schemas import SUPPRESSION
from schemas.registry import codec_for
from sinks import at_rest
from sinks.cells import Cell
from sinks.consumer import SinkConsumer
from sinks.exchange_rows import ExchangeInputs
from sinks.heal import RollupFeeds
from sinks.keeper import Keeper, KeeperMetrics, periodic_verify
from sinks.ledger import StoredIds
from sinks.metrics import SinkMetrics
from sinks.migrate import migrate
from sinks.quality_rows import register_quality
from sinks.query_api import InsertFirst, QueryDoor
from sinks.republish import republish_voters
from sinks.routes import Routes, pipeline_routes
from sinks.sql import string_literal
from sinks.store import LockedStore, open_store
from sinks.verify import verify
from sinks.zones import ProgramClock

log = logging.getLogger(__name__)


class SinkService:
    """The store, the consumer thread and the HTTP app of one sink process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = SinkMetrics()
        self.store: LockedStore | None = None
        self.keeper_store: LockedStore | None = None
        self.consumers: list[SinkConsumer] = []
        self.threads: list[threading.Thread] = []
        self.clock = ProgramClock(settings.stream.programs_file)
        self.keeper: Keeper | None = None
        self.migrated = False
        self.failed: BaseException | None = None
        self.gate = InsertFirst()
        self.sealer: Sealer | None = None
        dsn = settings.clickhouse.dsn.get_secret_value()
        self.door = QueryDoor(dsn, settings.query, self.gate) if settings.sink.query_api else None
        self.app = Starlette(
            routes=[
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics_page, methods=["GET"]),
                *(self.door.routes() if self.door else []),
                *([Route("/verify", self.verify, methods=["POST"])] if self.door else []),
            ]
        )

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        self.store = LockedStore(open_store(s.clickhouse.dsn.get_secret_value()))
        with self.store.lock:
            migrate(self.store.client)
            at_rest.apply_retention(self.store.client, s.dead_letters.retention_days)
        self.sealer = Sealer.from_settings(s.dead_letters, create=True)
        with self.store.lock:
            at_rest.seal_stored(self.store.client, self.sealer)
        self.migrated = True
        # the keeper on a client of its own, so the sink's inserts never wait for its
        # statements, which run on one thread: the pipeline keeps a core
        self.keeper_store = self.store.beside(open_store(s.clickhouse.dsn.get_secret_value()))
        self.keeper = Keeper(
            self.keeper_store.background(s.sink.keeper_nice),
            self.clock,
            interval_s=s.sink.keeper_interval_s,
            overlap_s=s.sink.keeper_overlap_s,
            verify_interval_s=s.sink.verify_interval_s,
            forecast_interval_s=s.sink.forecast_interval_s,
            metrics=KeeperMetrics(self.metrics.registry),
        )
        self.keeper.verify = periodic_verify(s.sink.verify_days)
        self.keeper.publish = suppression_publisher(s)
        self.keeper.start()
        self.open_door()
        conf = consumer_config(
            s.kafka,
            s.sink.group_id,
            fetch_wait_ms=s.sink.fetch_wait_ms,
            session_timeout_s=s.sink.session_timeout_s,
            **{"max.poll.interval.ms": int(s.sink.max_poll_interval_s * 1000)},
        )
        # the store is the ledger: a broker that lost the voters topic gets it back from here
        republish_voters(self._rows, s.kafka, codec_for(s.kafka.schema_registry_url))
        self.feeds = RollupFeeds(self._rows)
        ledger = StoredIds(s.sink.ledger_horizon_s)
        held = ledger.warm(self._rows)
        log.info("ledger: %d contacts stored in the last %ds", held, s.sink.ledger_horizon_s)
        # one or more consumers of the group in this process (chDB: one process per data
        # directory), sharing the store, the ledger and the lock around the ledger's check
        ledger_lock = threading.Lock()
        routes = sink_routes(s, self.clock.zone_of)
        # the bulk lane: large batches; freshness is the live lane's figure
        bulk = {
            s.kafka.topics.enriched_bulk: (s.sink.bulk_batch_rows, s.sink.bulk_flush_interval_s)
        }
        for i in range(s.sink.consumers):
            consumer = SinkConsumer(
                conf,
                routes,
                self.write,
                batch_rows=s.sink.batch_rows,
                flush_interval_s=s.sink.flush_interval_s,
                metrics=self.metrics,
                retry_max_s=s.sink.retry_max_s,
                ledger=ledger,
                query=self._rows,
                heal=self._heal,
                ledger_lock=ledger_lock,
                name=f"consumer-{i + 1}",
                limits=bulk,
                fresh=frozenset(routes.topics()) - set(bulk),
            )
            thread = threading.Thread(
                target=self._run_consumer, args=(consumer,), name=f"sink-consumer-{i + 1}"
            )
            self.consumers.append(consumer)
            self.threads.append(thread)
            thread.start()
        for consumer in self.consumers:
            consumer.started.wait(30)

    def _rows(self, sql: str) -> list[list[Any]]:
        assert self.store is not None
        return self.store.query(sql)[2]

    def _heal(self, table: str, event_ids: list[str]) -> None:
        """Feed ``table``'s rollups again for stored contacts (sinks/heal.py)."""
        assert self.store is not None
        for i in range(0, len(event_ids), 1000):
            for statement in self.feeds.statements(table, event_ids[i : i + 1000]):
                self._fault()
                with self.gate.inserting():
                    self.store.command(statement)
        log.info("fed the rollups of %d stored contacts of %s again", len(event_ids), table)
        if table == "contact_events" and self.keeper is not None:
            # the board tables follow the rollups through the keeper's recount of these cells
            # (which also takes out again a voided or folded contact the views were fed)
            for i in range(0, len(event_ids), 1000):
                ids = ", ".join(string_literal(e) for e in event_ids[i : i + 1000])
                found = self._rows(
                    "SELECT DISTINCT toString(org_id), toString(campaign_id), local_day "
                    f"FROM contact_events WHERE event_id IN ({ids})"
                )
                self.keeper.healed({Cell(str(o), str(c), d) for o, c, d in found})

    def _fault(self) -> None:
        fault = self.settings.sink.fault_file
        if fault is not None and fault.exists():
            raise StoreError(f"refused: the drill's fault file {fault} exists")

    def open_door(self) -> None:
        """Open the query door beside the store (its own clients; see sinks/query_api.py)."""
        if self.door is not None and self.store is not None:
            self.door.open(self.store)

    def write(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], token: str
    ) -> None:
        """The consumer's writer: the store's, with queries held back while it inserts and
        dead letters' originals sealed (sinks/at_rest.py)."""
        self._fault()
        assert self.store is not None and self.sealer is not None
        if table == at_rest.TABLE:
            rows = at_rest.seal_rows(columns, rows, self.sealer)
        with self.gate.inserting():
            self.store.write(table, columns, rows, token)

    def _run_consumer(self, consumer: SinkConsumer) -> None:
        try:
            consumer.run()
        except BaseException as exc:  # reported on /healthz and at exit
            self.failed = exc
            log.exception("the sink consumer stopped")

    def stop(self) -> None:
        """Stop the loop (it flushes and commits what is buffered), then close the store."""
        for consumer in self.consumers:
            consumer.stop()
        for thread in self.threads:
            thread.join(60)
        if self.keeper is not None:
            self.keeper.stop()
        if self.door is not None:
            self.door.close()
        for store in (self.keeper_store, self.store):
            if store is not None:
                try:
                    store.close()
                except StoreError as exc:
                    log.warning("%s", exc)

    def ready(self) -> bool:
        alive = bool(self.threads) and all(t.is_alive() for t in self.threads)
        started = bool(self.consumers) and all(c.started.is_set() for c in self.consumers)
        return self.migrated and started and alive and self.failed is None

    # --- handlers -------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        ready = self.ready()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def verify(self, request: Request) -> Response:
        """Recount the boards from contact_events; ?repair=1 repairs, ?since=YYYY-MM-DD."""
        if self.store is None or self.door is None:
            return JSONResponse({"error": "the store is not open yet"}, status_code=503)
        refused = self.door.admin_only(request)
        if refused is not None:
            return refused
        repair = request.query_params.get("repair", "") in ("1", "true", "yes")
        since_text = request.query_params.get("since")
        try:
            since = dt.date.fromisoformat(since_text) if since_text else None
        except ValueError:
            return JSONResponse({"error": "since must be a date, YYYY-MM-DD"}, status_code=400)
        store = self.store
        try:
            report = await run_in_threadpool(
                verify, store, self.clock.zone_of, repair=repair, since=since
            )
        except FieldstreamError as exc:
            return JSONResponse({"error": str(exc)}, status_code=500)
        return JSONResponse(
            {
                "differences": report.total,
                "repaired": report.repaired,
                "lines": list(report.lines()),
            }
        )


def suppression_publisher(settings: Settings) -> Callable[[list[dict[str, Any]]], None]:
    """The keeper's voids and folds onto contacts.suppressions, for the exchange agent."""
    topic = settings.kafka.topics.suppressions
    codec = codec_for(settings.kafka.schema_registry_url)
    writer: KafkaWriter | None = None

    def publish(records: list[dict[str, Any]]) -> None:
        nonlocal writer
        if writer is None:
            ensure_topics(settings.kafka)
            writer = KafkaWriter(producer_config(settings.kafka))
        for r in records:
            key = f"{r['org_id']}:{r['event_id']}:{r['kind']}".encode()
            writer.send(topic, key, codec.encode(SUPPRESSION, r))
        writer.flush(30, "suppressions")

    return publish


def sink_routes(settings: Settings, zone_of: Callable[[str, str], str] | None = None) -> Routes:
    """Every topic this sink stores: the pipeline's, the quality flags and reviews, and the
    exchange's when it is set up; ``zone_of(org, campaign)`` is each contact's clock
    (programs.yaml)."""
    codec = codec_for(settings.kafka.schema_registry_url)
    zone_of = zone_of or ProgramClock(settings.stream.programs_file).zone_of
    routes = pipeline_routes(settings.kafka.topics, codec, zone_of)
    register_quality(routes, settings.kafka.topics, codec)
    exchange = ExchangeInputs.from_settings(settings.exchange)
    if exchange is not None:
        exchange.register(routes, codec)
    return routes


def _note_signal(sig: int, frame: FrameType | None) -> None:
    log.info("signal %d: stopping", sig)


def serve(settings: Settings) -> int:
    """Run the sink until SIGTERM/SIGINT; returns the exit code."""
    service = SinkService(settings)
    service.start()
    config = uvicorn.Config(
        service.app,
        host=settings.sink.query_host,
        port=settings.sink.query_port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    # uvicorn restores the handlers it found and re-raises the signal after its shutdown:
    # with these (no-op) handlers in place, that no longer kills the process before the
    # consumer flushed and committed its batches.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _note_signal)
    try:
        server.run()  # handles SIGTERM/SIGINT by returning
    finally:
        service.stop()
    if service.failed is not None:
        log.error("the sink consumer had failed: %s", service.failed)
        return 1
    return 0
