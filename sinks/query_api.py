"""The sink's query door: ``POST /query`` and ``POST /insert/{table}``, behind credentials.

- ``/query`` takes any token (sinks/query_tokens.py); the body is one SQL statement, checked by
  sinks/sql_policy.py and run with ``readonly=1``, a time limit, memory and result-size limits
  and one thread; an analyst's query also carries ``additional_table_filters`` on every table
  with org data, so it sees its org's rows only, through views too.
- ``/insert/goals`` and ``/insert/universes`` take the admin credential only.

Queries never hold the ingest path: they run on clients of their own (chDB serves several
handles of one engine at once; a ClickHouse server, several connections), never under the
ingest writer's lock; at most ``query.concurrency`` run at once, and none starts while an
insert is under way (:class:`InsertFirst`), and query threads run at the lowest CPU priority
(``query.nice``, ClickHouse's os_thread_priority) so inserts get the cores first. A query
that cannot start within
``query.queue_wait_s`` is answered 429 with Retry-After.

Answers: 200 ``{"columns", "types", "rows"}``; 400 a refused or failed statement (the message
says why); 401 no or unknown credential (checked before the body is read); 403 an analyst on
/insert; 408 a body not received in time; 413 a body too large; 429 busy; 503 not open yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import ConfigError, FieldstreamError, StoreError
from core.settings import QuerySettings
from sinks.query_tokens import Credentials, Principal
from sinks.sql import string_literal
from sinks.sql_policy import (
    Catalog,
    ClickHouseParser,
    QueryRefused,
    approve,
    build_catalog,
    clean_error,
)
from sinks.store import LockedStore, described, open_store

log = logging.getLogger(__name__)

INSERTABLE = {
    "goals", "universes", "universe_staging", "holdout_plans", "vote_history",
    "vote_history_loads", "voter_scores", "model_runs", "quality_reviews",
}  # fmt: skip
BODY_TIMEOUT_S = 30.0
CATALOG_TTL_S = 30.0
PARSER_DSN = "chdb://:memory:"  # the parser for a ClickHouse server: chDB, in this process
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "week_start": lambda v: dt.date.fromisoformat(str(v)[:10]),
    "election_date": lambda v: dt.date.fromisoformat(str(v)[:10]),
    "loaded_at": lambda v: dt.datetime.fromisoformat(str(v)),
    "finished_at": lambda v: dt.datetime.fromisoformat(str(v)),
    "scored_at": lambda v: dt.datetime.fromisoformat(str(v)),
    "trained_at": lambda v: dt.datetime.fromisoformat(str(v)),
    "reviewed_at": lambda v: dt.datetime.fromisoformat(str(v)),
    "target": int,
}
_LIMITS = {
    "TIMEOUT_EXCEEDED": "the query ran past the door's time limit of {timeout} s: narrow it",
    "TOO_MANY_ROWS_OR_BYTES": "the result is over the door's limit ({rows} rows or {bytes} "
    "bytes): aggregate, filter or add LIMIT",
    "MEMORY_LIMIT_EXCEEDED": "the query needs more memory than the door allows ({memory} "
    "bytes): aggregate, filter or narrow the time range",
}


class Busy(FieldstreamError):
    """No query slot came free in time (too many queries, or inserts under way)."""


class BodyTooLarge(FieldstreamError):
    pass


class InsertFirst:
    """Inserts go first: while one is under way no query starts (queries already running go
    on; their time limit bounds them)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inserting = 0

    @contextmanager
    def inserting(self) -> Iterator[None]:
        with self._cond:
            self._inserting += 1
        try:
            yield
        finally:
            with self._cond:
                self._inserting -= 1
                self._cond.notify_all()

    def wait_clear(self, timeout_s: float) -> bool:
        """True once no insert is under way; False if that took longer than ``timeout_s``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._inserting == 0, max(timeout_s, 0.0))


def json_value(value: Any) -> Any:
    """orjson default: what orjson cannot serialise itself."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, set | tuple | frozenset):
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


def read_catalog(client: Any) -> Catalog:
    """The catalogue of the client's current database (sql_policy.build_catalog)."""
    try:
        database = str(client.query("SELECT currentDatabase()").result_rows[0][0])
        rows = client.query(
            "SELECT t.name, t.engine, countIf(c.name = 'org_id') > 0 FROM system.tables AS t "
            "LEFT JOIN system.columns AS c ON c.database = t.database AND c.table = t.name "
            "WHERE t.database = currentDatabase() GROUP BY t.name, t.engine"
        ).result_rows
    except Exception as exc:
        raise StoreError(f"cannot list the store's tables: {clean_error(exc)}") from exc
    return build_catalog(database, ((str(n), str(e), bool(o)) for n, e, o in rows))


async def read_body(request: Request, limit: int | None, timeout_s: float) -> bytes:
    """The request body, refused past ``limit`` bytes (BodyTooLarge) or ``timeout_s`` seconds
    (TimeoutError)."""
    declared = request.headers.get("content-length", "")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is {declared} bytes; at most {limit} are accepted")
    chunks, size = [], 0
    async with asyncio.timeout(timeout_s):
        async for chunk in request.stream():
            size += len(chunk)
            if limit is not None and size > limit:
                raise BodyTooLarge(f"the body is over {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class QueryDoor:
    """The query door of one sink: credentials, the policy, a pool of query clients."""

    def __init__(
        self,
        dsn: str,
        settings: QuerySettings,
        gate: InsertFirst,
        open_client: Callable[[str], Any] = open_store,
    ) -> None:
        self.dsn = dsn
        self.settings = settings
        self.gate = gate
        self.open_client = open_client
        self.credentials: Credentials | None = None
        self.store: LockedStore | None = None
        self.parser: ClickHouseParser | None = None
        self.denied: frozenset[str] = frozenset()
        self._slots: queue.Queue[Any] = queue.Queue()
        self._clients: list[Any] = []
        self._catalog: Catalog | None = None
        self._catalog_at = 0.0
        self._catalog_lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------
    def open(self, store: LockedStore) -> None:
        """Open the query clients and the parser beside ``store`` (the ingest writer's)."""
        self.credentials = Credentials.from_settings(self.settings)
        self.store = store
        for _ in range(self.settings.concurrency):
            client = self.open_client(self.dsn)
            self._clients.append(client)
            self._slots.put(client)
        embedded = self.dsn.startswith("chdb://")
        parser_client = self.open_client(self.dsn if embedded else PARSER_DSN)
        self._clients.append(parser_client)
        self.parser = ClickHouseParser(parser_client)
        try:
            self.parser.parse("SELECT 1")
        except QueryRefused as exc:
            raise ConfigError(
                f"the query door needs ClickHouse's parseQueryToJSON (chDB 4.4 or newer): {exc}"
            ) from None
        self.denied = self.parser.denied_functions()
        self.catalog()

    def close(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception as exc:  # closing is best effort
                log.warning("closing a query client: %s", exc)
        self._clients.clear()

    def catalog(self) -> Catalog:
        """The catalogue, re-read from the store at most every CATALOG_TTL_S seconds."""
        with self._catalog_lock:
            if self._catalog is None or time.monotonic() - self._catalog_at > CATALOG_TTL_S:
                try:  # a fresh catalogue if a slot is free; the one we have if all are busy
                    wait = None if self._catalog is None else 0.0
                    client = self._slots.get(timeout=wait)
                except queue.Empty:
                    return self._catalog  # type: ignore[return-value]
                try:
                    self._catalog = read_catalog(client)
                finally:
                    self._slots.put(client)
                self._catalog_at = time.monotonic()
            return self._catalog

    # --- running a query ------------------------------------------------------------
    def limits(self, principal: Principal, catalog: Catalog) -> dict[str, Any]:
        s = self.settings
        limits: dict[str, Any] = {
            "readonly": 1,
            "max_execution_time": s.timeout_s,
            "timeout_overflow_mode": "throw",
            "max_result_rows": s.max_result_rows,
            "max_result_bytes": s.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": s.max_memory_bytes,
            "max_threads": s.threads,
            "os_thread_priority": s.nice,
        }
        if principal.role != "admin":
            if not principal.org:
                raise QueryRefused("this credential names no org")
            filters = catalog.org_filters(principal.org)
            limits["additional_table_filters"] = (
                "{"
                + ", ".join(f"{string_literal(k)}: {string_literal(v)}" for k, v in filters.items())
                + "}"
            )
        return limits

    def run(self, principal: Principal, sql: str) -> tuple[list[str], list[str], list[Any]]:
        """Check and run one statement for ``principal``: (columns, types, rows)."""
        if self.parser is None:
            raise StoreError("the query door is not open yet")
        catalog = self.catalog()
        approved = approve(sql, self.parser, catalog, self.denied, self.settings.max_query_bytes)
        settings = self.limits(principal, catalog)
        deadline = time.monotonic() + self.settings.queue_wait_s
        try:
            client = self._slots.get(timeout=self.settings.queue_wait_s)
        except queue.Empty:
            raise Busy("every query slot is taken") from None
        try:
            if not self.gate.wait_clear(deadline - time.monotonic()):
                raise Busy("inserts are under way")
            try:
                result = client.query(approved.sql, settings=settings)
            except Exception as exc:
                raise StoreError(self._explain(clean_error(exc))) from exc
            names, types = list(result.column_names), [t.name for t in result.column_types]
            if not names and not result.result_rows:
                names, types = described(client, approved.sql, settings)
        finally:
            self._slots.put(client)
        return names, types, [list(r) for r in result.result_rows]

    def _explain(self, reason: str) -> str:
        s = self.settings
        for code, text in _LIMITS.items():
            if code in reason:
                return text.format(
                    timeout=s.timeout_s,
                    rows=s.max_result_rows,
                    bytes=s.max_result_bytes,
                    memory=s.max_memory_bytes,
                )
        return reason

    # --- HTTP -----------------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [
            Route("/query", self.query, methods=["POST"]),
            Route("/insert/{table}", self.insert, methods=["POST"]),
        ]

    def _principal(self, request: Request) -> Principal | None:
        if self.credentials is None:
            return None
        return self.credentials.authenticate(request.headers.get("authorization"))

    def admin_only(self, request: Request) -> JSONResponse | None:
        """None when the request carries the admin credential, else the answer refusing it
        (for the sink's own admin endpoints beside the door, such as /verify)."""
        principal = self._principal(request)
        if principal is None:
            return _unauthorized()
        if principal.role != "admin":
            return _error(403, "this needs the admin credential")
        return None

    async def query(self, request: Request) -> Response:
        if self.parser is None:
            return _error(503, "the store is not open yet")
        principal = self._principal(request)
        if principal is None:
            return _unauthorized()
        try:
            body = await read_body(request, self.settings.max_query_bytes, BODY_TIMEOUT_S)
            sql = body.decode("utf-8")
        except BodyTooLarge as exc:
            return _error(413, str(exc))
        except TimeoutError:
            return _error(408, f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s")
        except UnicodeDecodeError as exc:
            return _error(400, f"the query is not UTF-8 (byte {exc.start})")
        try:
            columns, types, rows = await run_in_threadpool(self.run, principal, sql)
        except Busy as exc:
            retry = str(max(1, round(self.settings.queue_wait_s)))
            return _error(429, f"the store is busy ({exc}): retry shortly", {"Retry-After": retry})
        except StoreError as exc:
            return _error(400, str(exc))
        log.info("query by %s: %d rows", principal.id, len(rows))
        return Response(dumps({"columns": columns, "types": types, "rows": rows}),
                        media_type="application/json")  # fmt: skip

    async def insert(self, request: Request) -> Response:
        table = request.path_params["table"]
        if self.store is None:
            return _error(503, "the store is not open yet")
        principal = self._principal(request)
        if principal is None:
            return _unauthorized()
        if principal.role != "admin":
            return _error(403, "inserts need the admin credential")
        if table not in INSERTABLE:
            return _error(400, f"only {', '.join(sorted(INSERTABLE))} accept inserts")
        try:
            payload = orjson.loads(await read_body(request, None, BODY_TIMEOUT_S))
            columns = [str(c) for c in payload["columns"]]
            rows = convert_insert_rows(columns, payload["rows"])
            with self.gate.inserting():
                await run_in_threadpool(self.store.insert, table, columns, rows)
        except TimeoutError:
            return _error(408, f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return _error(400, f'body must be {{"columns": [...], "rows": [[...]]}}: {exc}')
        except FieldstreamError as exc:
            return _error(400, str(exc))
        return JSONResponse({"inserted": len(rows)})


def _unauthorized() -> JSONResponse:
    return _error(
        401,
        "a credential is required: Authorization: Bearer <token> (an analyst token from "
        "`fieldstream query-token add`, or the admin token of the settings)",
        {"WWW-Authenticate": 'Bearer realm="fieldstream"'},
    )
