"""Store access for processes other than the sink (command line, boards, loaders).

chDB allows one process per data directory. With a ``chdb://`` DSN, when the sink service
answers on its query port the store is reached through its HTTP API; when no sink runs the
directory is opened directly (and migrated). An ``http(s)://`` DSN is a ClickHouse server:
always a direct client. Values read over the sink's HTTP API arrive JSON-safe (dates and
timestamps as ISO strings).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
import orjson

from core.errors import StoreError
from core.settings import Settings
from sinks.migrate import migrate
from sinks.query_tokens import admin_token
from sinks.store import LockedStore, open_store


class StoreAccess(Protocol):
    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]: ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def close(self) -> None: ...


class DirectAccess:
    """A store opened in this process (chDB directory or ClickHouse server)."""

    def __init__(self, store: LockedStore) -> None:
        self.store = store

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        columns, _types, rows = self.store.query(sql)
        return columns, rows

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.store.insert(table, columns, rows)

    def close(self) -> None:
        self.store.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    raise TypeError(f"cannot serialise {type(value).__name__}")


class HttpSinkAccess:
    """The store through a running sink service's /query and /insert endpoints, presenting
    ``token`` (the admin credential for fieldstream's own commands, or an analyst's)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            headers={"authorization": f"Bearer {token}"} if token else {},
        )

    def _refused(self, resp: httpx.Response) -> StoreError:
        try:
            message = str(resp.json().get("error", resp.text))
        except ValueError:
            message = resp.text
        if resp.status_code == 401:
            message += (
                "; the sink's admin token is in FIELDSTREAM_QUERY__ADMIN_TOKEN or, by default, "
                "in query.admin_token_file under the sink's data directory"
            )
        return StoreError(message)

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        try:
            resp = self.http.post("/query", content=sql.encode())
        except httpx.HTTPError as exc:
            raise StoreError(f"the sink at {self.base_url} did not answer: {exc}") from exc
        if resp.status_code != 200:
            raise self._refused(resp)
        body = resp.json()
        return body["columns"], body["rows"]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        payload = orjson.dumps(
            {"columns": list(columns), "rows": [list(r) for r in rows]},
            default=_json_default,
            option=orjson.OPT_NAIVE_UTC,
        )
        try:
            resp = self.http.post(
                f"/insert/{table}", content=payload, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"the sink at {self.base_url} did not answer: {exc}") from exc
        if resp.status_code != 200:
            raise self._refused(resp)

    def close(self) -> None:
        self.http.close()


def sink_state(base_url: str, wait_s: float = 30.0) -> bool:
    """True if a sink answers at ``base_url`` (waiting up to ``wait_s`` while it starts)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            resp = httpx.get(f"{base_url}/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        if resp.status_code == 200:
            return True
        if time.monotonic() > deadline:
            raise StoreError(f"the sink at {base_url} answers but is not ready; check its log")
        time.sleep(0.2)


def connect_store(settings: Settings) -> StoreAccess:
    """The right way to the store for this process (see the module doc)."""
    dsn = settings.clickhouse.dsn.get_secret_value()
    if dsn.startswith("chdb://"):
        base_url = f"http://{settings.sink.query_host}:{settings.sink.query_port}"
        if sink_state(base_url):
            return HttpSinkAccess(base_url, admin_token(settings.query))
        store = LockedStore(open_store(dsn))
        with store.lock:
            migrate(store.client)
        return DirectAccess(store)
    return DirectAccess(LockedStore(open_store(dsn)))
