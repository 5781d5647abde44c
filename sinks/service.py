"""The sink service: owns the ClickHouse store (for chDB: the data directory).

Opens the store, migrates, runs the consumer loop in a background thread and serves:
  GET  /healthz          200 {"ready": true} once migrated and consuming (503 before)
  GET  /metrics          prometheus text
  POST /query            body = one read-only SQL statement -> {"columns", "types", "rows"}
  POST /insert/{table}   goals and universes only: {"columns": [...], "rows": [[...]]}
A lock (LockedStore) serialises every store call between the consumer and the handlers.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import signal
import threading
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from types import FrameType
from typing import Any

import orjson
import uvicorn
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import FieldstreamError, StoreError
from core.kafka import consumer_config
from core.settings import Settings
from schemas.registry import codec_for
from sinks.consumer import SinkConsumer
from sinks.exchange_rows import ExchangeInputs
from sinks.ledger import StoredIds
from sinks.metrics import SinkMetrics
from sinks.migrate import migrate
from sinks.republish import republish_voters
from sinks.routes import Routes, pipeline_routes
from sinks.store import LockedStore, open_store

log = logging.getLogger(__name__)

READ_ONLY = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"}
INSERTABLE = {"goals", "universes"}
_COMMENTS = re.compile(r"(--[^\n]*\n)|(/\*.*?\*/)", re.S)
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "week_start": lambda v: dt.date.fromisoformat(str(v)[:10]),
    "loaded_at": lambda v: dt.datetime.fromisoformat(str(v)),
    "target": int,
}


def check_read_only(sql: str) -> str:
    """The statement if it is one read-only query; else StoreError saying what is allowed."""
    text = _COMMENTS.sub(" ", sql + "\n").strip().rstrip(";").strip()
    if not text:
        raise StoreError("empty query")
    first = text.split(None, 1)[0].upper()
    if first not in READ_ONLY:
        raise StoreError(f"only {', '.join(sorted(READ_ONLY))} queries are allowed, not {first}")
    if ";" in text or re.search(r"\bINTO\s+OUTFILE\b", text, re.I):
        raise StoreError("one read-only statement per request, without INTO OUTFILE")
    return text


def json_value(value: Any) -> Any:
    """orjson default: what orjson cannot serialise itself."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, tuple, frozenset)):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    return orjson.dumps(
        payload,
        default=json_value,
        option=orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )


def convert_insert_rows(columns: list[str], rows: list[list[Any]]) -> list[list[Any]]:
    """JSON values -> Python values for goals/universes columns (dates, timestamps)."""
    converters = [_CONVERT.get(c) for c in columns]
    out = []
    for row in rows:
        if len(row) != len(columns):
            raise StoreError(f"a row has {len(row)} values for {len(columns)} columns")
        out.append(
            [v if f is None or v is None else f(v) for f, v in zip(converters, row, strict=True)]
        )
    return out


class SinkService:
    """The store, the consumer thread and the HTTP app of one sink process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = SinkMetrics()
        self.store: LockedStore | None = None
        self.consumers: list[SinkConsumer] = []
        self.threads: list[threading.Thread] = []
        self.migrated = False
        self.failed: BaseException | None = None
        self.app = Starlette(
            routes=[
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics_page, methods=["GET"]),
                Route("/query", self.query, methods=["POST"]),
                Route("/insert/{table}", self.insert, methods=["POST"]),
            ]
        )

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        self.store = LockedStore(open_store(s.clickhouse.dsn.get_secret_value()))
        with self.store.lock:
            migrate(self.store.client)
        self.migrated = True
        conf = consumer_config(
            s.kafka,
            s.sink.group_id,
            fetch_wait_ms=s.sink.fetch_wait_ms,
            session_timeout_s=s.sink.session_timeout_s,
            **{"max.poll.interval.ms": int(s.sink.max_poll_interval_s * 1000)},
        )
        # the store is the ledger: a broker that lost the voters topic gets it back from here
        republish_voters(self._rows, s.kafka, codec_for(s.kafka.schema_registry_url))
        ledger = StoredIds(s.sink.ledger_horizon_s)
        held = ledger.warm(self._rows)
        log.info("ledger: %d contacts stored in the last %ds", held, s.sink.ledger_horizon_s)
        # one or more consumers of the group in this process (chDB: one process per data
        # directory), sharing the store, the ledger and the lock around the ledger's check
        ledger_lock = threading.Lock()
        routes = sink_routes(s)
        # the bulk lane: large batches; freshness is the live lane's figure
        bulk = {
            s.kafka.topics.enriched_bulk: (s.sink.bulk_batch_rows, s.sink.bulk_flush_interval_s)
        }
        for i in range(s.sink.consumers):
            consumer = SinkConsumer(
                conf,
                routes,
                self._write,
                batch_rows=s.sink.batch_rows,
                flush_interval_s=s.sink.flush_interval_s,
                metrics=self.metrics,
                retry_max_s=s.sink.retry_max_s,
                ledger=ledger,
                query=self._rows,
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

    def _write(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], token: str
    ) -> None:
        fault = self.settings.sink.fault_file
        if fault is not None and fault.exists():
            raise StoreError(f"insert refused: the drill's fault file {fault} exists")
        assert self.store is not None
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
        if self.store is not None:
            try:
                self.store.close()
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

    async def query(self, request: Request) -> Response:
        if self.store is None:
            return JSONResponse({"error": "the store is not open yet"}, status_code=503)
        sql = (await request.body()).decode("utf-8", "replace")
        try:
            text = check_read_only(sql)
            columns, types, rows = self.store.query(text)
        except StoreError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        body = dumps({"columns": columns, "types": types, "rows": rows})
        return Response(body, media_type="application/json")

    async def insert(self, request: Request) -> Response:
        table = request.path_params["table"]
        if table not in INSERTABLE:
            return JSONResponse(
                {"error": f"only {', '.join(sorted(INSERTABLE))} accept inserts"}, status_code=400
            )
        if self.store is None:
            return JSONResponse({"error": "the store is not open yet"}, status_code=503)
        try:
            payload = orjson.loads(await request.body())
            columns = [str(c) for c in payload["columns"]]
            rows = convert_insert_rows(columns, payload["rows"])
            self.store.insert(table, columns, rows)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse(
                {"error": f'body must be {{"columns": [...], "rows": [[...]]}}: {exc}'},
                status_code=400,
            )
        except FieldstreamError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"inserted": len(rows)})


def sink_routes(settings: Settings) -> Routes:
    """Every topic this sink stores: the pipeline's, and the exchange's when it is set up."""
    codec = codec_for(settings.kafka.schema_registry_url)
    routes = pipeline_routes(settings.kafka.topics, codec)
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
