"""The write-back's ledger: a durable row per contact event, so nothing is posted twice knowingly.

VAN cannot delete or update contact history, so a contact posted twice stays twice. The ledger
is a SQLite file in the data directory (WAL journal, ``synchronous=FULL``: a committed change
is on disk before the call returns), readable by ``fieldstream writeback`` while the write-back
runs. It is the write-back's memory: the broker may forget offsets (the embedded Tansu keeps
nothing across a restart), the ledger does not.

States of an event:

- ``pending``: to be posted when ``next_at`` has passed (backoff after a 429 or 5xx);
- ``sending``: marked, and committed, before the POST leaves. A crash leaves the row here and
  :meth:`Ledger.recover` turns it into ``uncertain``: the request may have reached VAN;
- ``posted``: VAN answered 2xx (its status, answer and time kept);
- ``rejected``: VAN answered 4xx (its error code and text kept), or fieldstream could not build
  a body VAN would take (``rejected_by`` says which);
- ``uncertain``: a timeout or dropped connection after the request was sent, or a crash while
  sending. Held for review, never retried by itself;
- ``passed``: the gateway forwarded it to VAN itself (pass-through) and VAN took it;
- ``skipped``: a person said so (``fieldstream writeback skip``), or a pass-through failed and
  the tool was told (the tool owns the retry).

Every change bumps ``version``; :meth:`Ledger.unpublished` hands changed rows to the status
publisher until :meth:`Ledger.mark_published` records them (at least once; the store keeps the
highest version).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import StoreError

STATES = ("pending", "sending", "posted", "rejected", "uncertain", "passed", "skipped")
FINAL = ("posted", "rejected", "passed", "skipped")

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    event_id     TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    source       TEXT NOT NULL,      -- the event's source_system
    campaign_id  TEXT NOT NULL,
    state        TEXT NOT NULL,
    person       TEXT,               -- VAN path person: 123 or stateFileId:PA1
    mode         INTEGER,            -- VAN database mode, 0 or 1
    body         TEXT,               -- the JSON body to post
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      REAL NOT NULL DEFAULT 0,
    van_status   INTEGER,
    error_code   TEXT,
    error_text   TEXT,
    rejected_by  TEXT,
    received_at  REAL NOT NULL,      -- when fieldstream received the contact (lag)
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    published    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_due ON entries (state, next_at);
CREATE INDEX IF NOT EXISTS entries_unpublished ON entries (published, version);
"""


@dataclass(frozen=True)
class Entry:
    event_id: str
    org_id: str
    source: str
    campaign_id: str
    state: str
    person: str | None
    mode: int | None
    body: str | None
    attempts: int
    next_at: float
    van_status: int | None
    error_code: str | None
    error_text: str | None
    rejected_by: str | None
    received_at: float
    created_at: float
    updated_at: float
    version: int
    published: int

    def payload(self) -> dict[str, Any] | None:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class NewEntry:
    """What the consumer hands the ledger for one contact."""

    event_id: str
    org_id: str
    source: str
    campaign_id: str
    received_at: float
    state: str = "pending"  # or rejected / passed / skipped / uncertain, decided up front
    person: str | None = None
    mode: int | None = None
    body: str | None = None
    van_status: int | None = None
    error_code: str | None = None
    error_text: str | None = None
    rejected_by: str | None = None


class Ledger:
    """The ledger file; safe to share between threads of one process and between processes."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.clock = path, clock
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(path), timeout=30, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"write-back ledger {path} cannot be opened: {exc}") from exc
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"write-back ledger {self.path}: {exc}") from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- writes ---------------------------------------------------------------------------

    def add(self, entries: Iterable[NewEntry]) -> int:
        """Record new contacts; an event id already in the ledger is left as it is."""
        now, added = self.clock(), 0
        with self._tx() as db:
            for e in entries:
                cur = db.execute(
                    "INSERT OR IGNORE INTO entries (event_id, org_id, source, campaign_id, state,"
                    " person, mode, body, van_status, error_code, error_text, rejected_by,"
                    " received_at, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        e.event_id, e.org_id, e.source, e.campaign_id, e.state, e.person, e.mode,
                        e.body, e.van_status, e.error_code, e.error_text, e.rejected_by,
                        e.received_at, now, now,
                    ),
                )  # fmt: skip
                added += cur.rowcount
        return added

    def due(self, limit: int, exclude: frozenset[str] = frozenset()) -> list[Entry]:
        """Pending rows whose ``next_at`` has passed, oldest first (read only)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM entries WHERE state='pending' AND next_at<=? "
                "ORDER BY next_at, created_at LIMIT ?",
                (self.clock(), limit + len(exclude)),
            ).fetchall()
        return [self._entry(r) for r in rows if r["event_id"] not in exclude][:limit]

    def begin(self, event_id: str) -> bool:
        """Mark one pending row ``sending``, committed to disk, just before its POST leaves.

        False when the row is no longer pending (someone skipped it meanwhile): do not post.
        """
        with self._tx() as db:
            cur = db.execute(
                "UPDATE entries SET state='sending', attempts=attempts+1, updated_at=?,"
                " version=version+1 WHERE event_id=? AND state='pending'",
                (self.clock(), event_id),
            )
            return cur.rowcount == 1

    def begin_many(self, event_ids: list[str]) -> set[str]:
        """:meth:`begin` for several rows in one transaction (one fsync): the ids now sending."""
        now, began = self.clock(), set()
        with self._tx() as db:
            for event_id in event_ids:
                cur = db.execute(
                    "UPDATE entries SET state='sending', attempts=attempts+1, updated_at=?,"
                    " version=version+1 WHERE event_id=? AND state='pending'",
                    (now, event_id),
                )
                if cur.rowcount == 1:
                    began.add(event_id)
        return began

    def settle_many(self, outcomes: list[tuple[str, str, dict[str, Any]]]) -> None:
        """:meth:`settle` for several rows, (event_id, state, fields), in one transaction.

        Not waited for before the next POST: a crash before it commits leaves the rows
        ``sending``, which :meth:`recover` makes ``uncertain`` (never a blind retry).
        """
        with self._tx() as db:
            for event_id, state, fields in outcomes:
                self._settle(db, event_id, state, **fields)

    def settle(
        self,
        event_id: str,
        state: str,
        *,
        van_status: int | None = None,
        error_code: str | None = None,
        error_text: str | None = None,
        rejected_by: str | None = None,
        next_at: float | None = None,
    ) -> None:
        """Record what happened to a row that was ``sending``."""
        with self._tx() as db:
            self._settle(
                db,
                event_id,
                state,
                van_status=van_status,
                error_code=error_code,
                error_text=error_text,
                rejected_by=rejected_by,
                next_at=next_at,
            )

    def _settle(
        self,
        db: sqlite3.Connection,
        event_id: str,
        state: str,
        *,
        van_status: int | None = None,
        error_code: str | None = None,
        error_text: str | None = None,
        rejected_by: str | None = None,
        next_at: float | None = None,
    ) -> None:
        if state not in STATES:
            raise ValueError(f"unknown ledger state {state!r}")
        db.execute(
            "UPDATE entries SET state=?, van_status=?, error_code=?, error_text=?,"
            " rejected_by=?, next_at=COALESCE(?, next_at), updated_at=?, version=version+1"
            " WHERE event_id=? AND state='sending'",
            (
                state, van_status, error_code, error_text, rejected_by, next_at,
                self.clock(), event_id,
            ),
        )  # fmt: skip

    def recover(self) -> int:
        """After a crash: every row left ``sending`` may have reached VAN: ``uncertain``."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE entries SET state='uncertain', error_code='crash_while_sending',"
                " error_text='the write-back stopped while this request was in flight',"
                " updated_at=?, version=version+1 WHERE state='sending'",
                (self.clock(),),
            )
            return cur.rowcount

    def move(self, event_ids: Iterable[str] | None, from_states: tuple[str, ...], to: str) -> int:
        """Move rows (all in ``from_states`` when ``event_ids`` is None) to ``to``."""
        states = ",".join("?" * len(from_states))
        now, moved = self.clock(), 0
        with self._tx() as db:
            where = f"state IN ({states})"
            if event_ids is None:
                targets: list[Any] = [None]
            else:
                targets = list(event_ids)
                where += " AND event_id=?"
            for event_id in targets:
                args: list[Any] = [to, now, *from_states]
                if event_id is not None:
                    args.append(event_id)
                cur = db.execute(
                    f"UPDATE entries SET state=?, next_at=0, updated_at=?, version=version+1"
                    f" WHERE {where}",
                    args,
                )
                moved += cur.rowcount
        return moved

    # -- reads ----------------------------------------------------------------------------

    def get(self, event_id: str) -> Entry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM entries WHERE event_id=?", (event_id,)).fetchone()
        return self._entry(row) if row else None

    def entries(self, state: str | None = None, limit: int = 1000) -> list[Entry]:
        with self._lock:
            if state is None:
                rows = self._db.execute(
                    "SELECT * FROM entries ORDER BY created_at LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM entries WHERE state=? ORDER BY created_at LIMIT ?",
                    (state, limit),
                ).fetchall()
        return [self._entry(r) for r in rows]

    def counts(self) -> dict[tuple[str, str, str], int]:
        """{(org, source, state): n}."""
        with self._lock:
            rows = self._db.execute(
                "SELECT org_id, source, state, count(*) FROM entries GROUP BY 1, 2, 3"
            ).fetchall()
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    def oldest_pending_received_at(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT min(received_at) FROM entries WHERE state IN ('pending','sending')"
            ).fetchone()
        return row[0] if row else None

    def unpublished(self, limit: int) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM entries WHERE published < version ORDER BY updated_at LIMIT ?",
                (limit,),
            ).fetchall()
        return [self._entry(r) for r in rows]

    def mark_published(self, versions: Iterable[tuple[str, int]]) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE entries SET published=max(published, ?) WHERE event_id=?",
                [(v, e) for e, v in versions],
            )

    @staticmethod
    def _entry(row: sqlite3.Row, **changes: Any) -> Entry:
        return Entry(**{**{k: row[k] for k in row.keys()}, **changes})  # noqa: SIM118
