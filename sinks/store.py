"""Open a ClickHouse client: chDB (``chdb:///abs/path``) or a server (``http(s)://...``).

chDB allows one process per data directory: only the sink service (``python -m sinks``)
opens it while it runs; other processes go through :mod:`sinks.remote`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import clickhouse_connect

from core.errors import StoreError


def open_store(dsn: str) -> Any:
    """A clickhouse-connect client for ``dsn``; errors become :class:`StoreError`."""
    if not dsn:
        raise StoreError("empty ClickHouse DSN: set FIELDSTREAM_CLICKHOUSE__DSN")
    try:
        return clickhouse_connect.get_client(dsn=dsn)
    except Exception as exc:  # clickhouse-connect and chDB raise several kinds
        scheme = dsn.split("://", 1)[0]
        raise StoreError(
            f"cannot open the ClickHouse store ({scheme}://...): {exc}; check the DSN, "
            "and for chDB that no other process holds the data directory"
        ) from exc


class StoreLock:
    """The store's lock: re-entrant (a rewrite holds it over DELETE + INSERT), and a caller
    that takes it with :meth:`urgent` goes before every caller waiting without.

    The sink's inserts take it urgently. With a plain lock the ledger keeper, running query
    after query, took it back before the waiting insert thread woke, so an insert could wait
    for a whole keeper pass (seconds under load); now it waits for one statement at most.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0

    def acquire(self, blocking: bool = True, timeout: float = -1, *, urgent: bool = False) -> bool:
        """As threading.RLock.acquire; False when not taken (not ``blocking``, or the
        ``timeout`` passed)."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if urgent:
                self._urgent_waiting += 1
            try:
                free = self._cond.wait_for(
                    lambda: self._owner is None and (urgent or not self._urgent_waiting),
                    timeout=(timeout if timeout >= 0 else None) if blocking else 0,
                )
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            if not free:
                return False
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("the store lock is released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @contextmanager
    def urgent(self) -> Iterator[None]:
        self.acquire(urgent=True)
        try:
            yield
        finally:
            self.release()


class LockedStore:
    """A client shared between threads: one lock serialises every call (chDB needs it).
    ``settings`` go with every statement made through this one (see :meth:`background`).

    Several clients of one store (:meth:`beside`) run their statements at the same time, and
    share one ``fence``: a section that must not interleave with another's (:meth:`atomic`: a
    read then a write of the keeper's tables) takes the fence first, then its client's lock.
    """

    def __init__(
        self,
        client: Any,
        lock: StoreLock | None = None,
        settings: dict[str, Any] | None = None,
        fence: StoreLock | None = None,
    ) -> None:
        self.client = client
        self.lock = lock if lock is not None else StoreLock()
        self.settings = dict(settings or {})
        self.fence = fence if fence is not None else StoreLock()

    def background(self, nice: int = 0) -> LockedStore:
        """The same client and lock for background work: its statements run on one thread
        (with every core at once, a keeper statement left the pipeline's processes none while
        it ran), at CPU niceness ``nice`` (os_thread_priority) when above 0."""
        settings = {**self.settings, "max_threads": 1}
        if nice:
            settings["os_thread_priority"] = nice
        return LockedStore(self.client, self.lock, settings, self.fence)

    def beside(self, client: Any) -> LockedStore:
        """Another client of the same store, with a lock of its own: its statements run
        while this one's do (the ledger keeper's beside the sink's inserts, which waited for
        every keeper statement on one client), and atomic sections of both exclude each
        other."""
        return LockedStore(client, StoreLock(), self.settings, self.fence)

    def query(self, sql: str) -> tuple[list[str], list[str], list[list[Any]]]:
        """(column names, type names, rows) of a query; errors become StoreError."""
        try:
            with self.lock:
                result = self.client.query(sql, settings=self.settings or None)
        except Exception as exc:
            raise StoreError(str(exc)) from exc
        names, types = list(result.column_names), [t.name for t in result.column_types]
        if not names and not result.result_rows:
            names, types = self._described(sql)
        return names, types, [list(r) for r in result.result_rows]

    def _described(self, sql: str) -> tuple[list[str], list[str]]:
        with self.lock:
            return described(self.client, sql, self.settings or None)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold the store over several statements (sinks.ledger.Sql): the fence shared by
        every client of the store, then this client's lock."""
        with self.fence, self.lock:
            yield

    def rows(self, sql: str) -> list[list[Any]]:
        """The rows of a query (sinks.cells.Sql)."""
        return self.query(sql)[2]

    def command(self, sql: str, settings: dict[str, Any] | None = None) -> None:
        """Run a statement that returns nothing (DDL, DELETE, INSERT ... SELECT, ALTER);
        StoreError on failure. Inserts it makes are synchronous."""
        try:
            with self.lock:
                self.client.command(
                    sql, settings={"async_insert": 0, **self.settings, **(settings or {})}
                )
        except Exception as exc:
            raise StoreError(f"{sql.split(None, 1)[0]} failed: {exc}") from exc

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        token: str | None = None,
        *,
        urgent: bool = False,
    ) -> None:
        """Insert rows; with ``token``, a retried identical insert is dropped by ClickHouse;
        ``urgent``: before the statements of others waiting (see :class:`StoreLock`)."""
        # a retried identical block is dropped by the table and still reaches a view that
        # missed it (each view's target deduplicates it on its own)
        settings: dict[str, Any] = {
            "async_insert": 0,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
            **self.settings,
        }
        if token is not None:
            settings["insert_deduplication_token"] = token
        try:
            with self.lock.urgent() if urgent else self.lock:
                self.client.insert(table, rows, column_names=list(columns), settings=settings)
        except Exception as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def write(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], token: str
    ) -> None:
        """The sink consumer's writer (sinks.consumer.Writer): urgent, since freshness waits
        on it."""
        self.insert(table, columns, rows, token, urgent=True)

    def close(self) -> None:
        with self.lock:
            try:
                self.client.close()
            except Exception as exc:  # closing is best effort
                raise StoreError(f"closing the store: {exc}") from exc


def described(
    client: Any, sql: str, settings: dict[str, Any] | None = None
) -> tuple[list[str], list[str]]:
    """The columns of a query that returned no rows: chDB sends none with an empty result
    (a server does), so ask ClickHouse to describe the query; ([], []) when it cannot
    (a SHOW, say)."""
    try:
        rows = client.query(f"DESCRIBE ({sql.strip().rstrip(';')})", settings=settings).result_rows
    except Exception:
        return [], []
    return [str(r[0]) for r in rows], [str(r[1]) for r in rows]
