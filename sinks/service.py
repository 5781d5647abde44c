"""The sink service: owns the ClickHouse store (for chDB: the data directory).

Opens the store, migrates, runs the consumer loop in a background thread and serves:
  GET  /healthz          200 {"ready": true} once migrated and consuming (503 before)
  GET  /metrics          prometheus text
  POST /query            body = one read-only SQL statement -> {"columns", "types", "rows"}
  POST /insert/{table}   goals and universes only: {"columns": [...], "rows": [[...]]}
  POST /verify           recount the boards from contact_events (?repair=1, ?since=YYYY-MM-DD)
A lock (LockedStore) serialises every store call between the consumer, the ledger keeper
(sinks/keeper.py, a thread that keeps what the boards read) and the handlers.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import signal
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from types import FrameType
from typing import Any

import orjson
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
from core.settings import Settings
from schemas import SUPPRESSION
from schemas.registry import codec_for
from sinks.consumer import SinkConsumer, SinkMetrics
from sinks.exchange_rows import ExchangeInputs
from sinks.keeper import Keeper, KeeperMetrics, periodic_verify
from sinks.migrate import migrate
from sinks.routes import Routes, pipeline_routes
from sinks.store import LockedStore, open_store
from sinks.verify import verify
from sinks.zones import ProgramClock

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
        self.consumer: SinkConsumer | None = None
        self.thread: threading.Thread | None = None
        self.clock = ProgramClock(settings.stream.programs_file)
        self.keeper: Keeper | None = None
        self.migrated = False
        self.failed: BaseException | None = None
        self.app = Starlette(
            routes=[
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics_page, methods=["GET"]),
                Route("/query", self.query, methods=["POST"]),
                Route("/insert/{table}", self.insert, methods=["POST"]),
                Route("/verify", self.verify, methods=["POST"]),
            ]
        )

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        self.store = LockedStore(open_store(s.clickhouse.dsn.get_secret_value()))
        with self.store.lock:
            migrate(self.store.client)
        self.migrated = True
        self.keeper = Keeper(
            self.store,
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
        conf = consumer_config(
            s.kafka,
            s.sink.group_id,
            fetch_wait_ms=s.sink.fetch_wait_ms,
            session_timeout_s=s.sink.session_timeout_s,
        )
        self.consumer = SinkConsumer(
            conf,
            sink_routes(s, self.clock.zone_of),
            self.store.write,
            batch_rows=s.sink.batch_rows,
            flush_interval_s=s.sink.flush_interval_s,
            metrics=self.metrics,
        )
        self.thread = threading.Thread(target=self._run_consumer, name="sink-consumer")
        self.thread.start()
        self.consumer.started.wait(30)

    def _run_consumer(self) -> None:
        assert self.consumer is not None
        try:
            self.consumer.run()
        except BaseException as exc:  # reported on /healthz and at exit
            self.failed = exc
            log.exception("the sink consumer stopped")

    def stop(self) -> None:
        """Stop the loop (it flushes and commits what is buffered), then close the store."""
        if self.consumer is not None:
            self.consumer.stop()
        if self.thread is not None:
            self.thread.join(60)
        if self.keeper is not None:
            self.keeper.stop()
        if self.store is not None:
            try:
                self.store.close()
            except StoreError as exc:
                log.warning("%s", exc)

    def ready(self) -> bool:
        alive = self.thread is not None and self.thread.is_alive()
        started = self.consumer is not None and self.consumer.started.is_set()
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

    async def verify(self, request: Request) -> Response:
        """Recount the boards from contact_events; ?repair=1 repairs, ?since=YYYY-MM-DD."""
        if self.store is None:
            return JSONResponse({"error": "the store is not open yet"}, status_code=503)
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
    """Every topic this sink stores: the pipeline's, and the exchange's when it is set up;
    ``zone_of(org, campaign)`` is each contact's clock (programs.yaml)."""
    codec = codec_for(settings.kafka.schema_registry_url)
    zone_of = zone_of or ProgramClock(settings.stream.programs_file).zone_of
    routes = pipeline_routes(settings.kafka.topics, codec, zone_of)
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
