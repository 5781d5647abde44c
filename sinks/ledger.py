"""The store is the ledger: which contacts are already stored, by which batch, and which count.

A contact is known by its ledger key (schemas.ids.dedupe_key): its event id, and for a partial
contact (some survey answers held) the answers it holds too, so the same contact filled in by
``fieldstream dlq replay`` is stored once more, replacing the partial row.

Exactness may not rest on the broker remembering anything (the embedded broker keeps nothing
across a restart, and a production topic can be recreated): before the sink inserts a batch
of contacts it drops those whose event id the store already holds from ANOTHER batch. So a
copy that arrives again (a webhook retry past the stream's dedupe, a journal replay after a
broker restart, a redelivery with other offsets) is never stored twice, and the first stored
copy wins whatever enrichment the later one got: the copy the boards already counted stays
the one they count.

A retried batch is kept whole and identical (same rows, same insert token): ClickHouse drops
the repeat in the table and still lets it reach a materialized view that missed it, so a
crash between a table's insert and its view's heals on the retry. After a restart the batch
read again is rarely the same batch (its boundaries follow the clock), so the ids the store
held before this process started are *unsure*: when one of them arrives again, the sink
feeds the rollups those contacts again (sinks/heal.py; the rollups keep idempotent states, so
this never counts twice) and from then on it is sure.

The ids stored within ``horizon_s`` are held here (warmed from the store at start and again
when partitions are assigned, kept up to date by every insert): a lookup per contact costs a
dict probe, not a query. Copies older than the horizon are left to the ReplacingMergeTree and
to ``fieldstream verify``; the horizon defaults to the senders' retry window.

contact_events holds every stored copy of every contact. The contacts that count are the
latest copy of each (FINAL), less those a correction voided or that were folded into their
copy from another path (sinks/ddl/024_corrections.sql), and less the work quality holds out
(a quarantined shift no one approved yet, or a voided flag: sinks/ddl/020_quality.sql).
:func:`counted_sql` is that set as SQL, for one org/campaign and optionally some local days:
every recount reads it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from schemas.ids import DEDUPE_KEY_SQL
from sinks.sql import datetime64, string_literal

log = logging.getLogger(__name__)

Query = Callable[[str], list[list[Any]]]

UNSURE = "?"  # marks an id stored before this process started: its rollups may lag
LEDGER = "contact_events"


def _key(event_id: str) -> bytes:
    """16 bytes for a UUID (every event id the gateway and importers make), else the text."""
    try:
        return uuid.UUID(event_id).bytes
    except ValueError:
        return event_id.encode()


class StoredIds:
    """Event ids stored within the horizon, each with the insert token that stored it."""

    def __init__(self, horizon_s: float, clock: Callable[[], float] = time.time) -> None:
        self.horizon_s = horizon_s
        self.clock = clock
        self._by_id: dict[bytes, str] = {}
        self._added: deque[tuple[float, list[bytes]]] = deque()
        self._warmed_to: float | None = None

    def __len__(self) -> int:
        return len(self._by_id)

    def warm(self, query: Query) -> int:
        """Read the ids stored since the last warm (or within the horizon); returns how many."""
        now = self.clock()
        since = now - self.horizon_s if self._warmed_to is None else self._warmed_to - 60
        sql = (
            f"SELECT {DEDUPE_KEY_SQL}, stored_by FROM contact_events "
            f"WHERE inserted_at >= {datetime64(dt.datetime.fromtimestamp(since, dt.UTC))}"
        )
        rows = query(sql)
        keys = []
        for event_id, stored_by in rows:
            key = _key(str(event_id))
            if key not in self._by_id:
                self._by_id[key] = UNSURE + str(stored_by)
                keys.append(key)
        if keys:
            self._added.append((now, keys))
        self._warmed_to = now
        return len(rows)

    def unstored(self, event_ids: Sequence[str], token: str) -> tuple[list[int], list[str]]:
        """Indexes of the ids not stored by another batch than ``token`` (insert these), and
        the ids stored by another batch before this process started (feed their rollups
        again: :meth:`make_sure` once done)."""
        by_id = self._by_id
        keep: list[int] = []
        unsure: list[str] = []
        for i, event_id in enumerate(event_ids):
            stored_by = by_id.get(_key(event_id))
            if stored_by is None or stored_by.removeprefix(UNSURE) == token:
                keep.append(i)
            elif stored_by.startswith(UNSURE):
                unsure.append(event_id)
        return keep, unsure

    def make_sure(self, event_ids: Iterable[str]) -> None:
        """The rollups of these stored contacts were fed again: they are sure now."""
        by_id = self._by_id
        for event_id in event_ids:
            key = _key(event_id)
            stored_by = by_id.get(key)
            if stored_by is not None:
                by_id[key] = stored_by.removeprefix(UNSURE)

    def add(self, event_ids: Iterable[str], token: str) -> None:
        """Record ids as stored by ``token`` (after its insert succeeded)."""
        by_id = self._by_id
        keys = []
        for event_id in event_ids:
            key = _key(event_id)
            if key not in by_id:
                by_id[key] = token
                keys.append(key)
        if keys:
            self._added.append((self.clock(), keys))

    def expire(self) -> int:
        """Forget ids recorded longer than the horizon ago; returns how many."""
        cutoff = self.clock() - self.horizon_s
        gone = 0
        while self._added and self._added[0][0] < cutoff:
            _, keys = self._added.popleft()
            for key in keys:
                if self._by_id.pop(key, None) is not None:
                    gone += 1
        return gone


class Sql(Protocol):
    """What a recount needs of a store (sinks.store.LockedStore has these)."""

    def rows(self, sql: str) -> list[list[Any]]: ...

    def command(self, sql: str) -> None: ...

    def atomic(self) -> AbstractContextManager[Any]:
        """Hold the store for several statements (readers through the same store wait)."""
        ...


def campaign_scope(org_id: str, campaign_id: str) -> str:
    """The SQL condition on one org's campaign."""
    return f"org_id = {string_literal(org_id)} AND campaign_id = {string_literal(campaign_id)}"


def delete_rows(sql: Sql, table: str, where: str) -> None:
    """DELETE ``table``'s rows of ``where``, skipped when it has none: a lightweight DELETE is
    a mutation of every part that might match, seconds on a large table even when nothing
    does (a store finalised for the first time rewrites every campaign into empty tables)."""
    if sql.rows(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1"):
        sql.command(f"DELETE FROM {table} WHERE {where}")


def dates(days: Sequence[dt.date]) -> str:
    """A SQL list of Date literals."""
    return ", ".join(f"toDate('{d.isoformat()}')" for d in sorted(set(days)))


def counted_sql(
    org_id: str,
    campaign_id: str,
    days: Sequence[dt.date] | None = None,
    extra_columns: Sequence[str] = ("attempt_key",),
    condition: str = "",
) -> str:
    """The counted contacts of an org/campaign (on those local days; of those that meet
    ``condition`` too): the latest copy of each stored contact, less the voided, the folded
    and those quality holds out."""
    org, campaign = string_literal(org_id), string_literal(campaign_id)
    where = f"org_id = {org} AND campaign_id = {campaign}"
    if condition:
        where += f" AND {condition}"
    if days:
        low, high = min(days) - dt.timedelta(days=2), max(days) + dt.timedelta(days=2)
        # occurred_at bounds let ClickHouse skip partitions; local_day picks the cells
        where += (
            f" AND occurred_at >= toDateTime64('{low.isoformat()}', 3, 'UTC')"
            f" AND occurred_at < toDateTime64('{high.isoformat()}', 3, 'UTC')"
            f" AND local_day IN ({dates(days)})"
        )
    extra = "".join(f", {c}" for c in extra_columns)
    held = quality_held_sql(
        f"SELECT event_id, org_id, campaign_id, channel, canvasser_id, occurred_at "
        f"FROM {LEDGER} WHERE {where}",
        f"{HELD_FLAGS} AND org_id = {org} AND campaign_id = {campaign}",
    )
    return (
        f"SELECT *{extra} FROM {LEDGER} FINAL WHERE {where} AND event_id NOT IN "
        f"(SELECT event_id FROM suppressed_events WHERE org_id = {org} "
        f"AND campaign_id = {campaign}) AND event_id NOT IN ({held})"
    )


HELD_FLAGS = (
    "SELECT flag_id, org_id, campaign_id, channel, canvasser_id, first_contact_at, "
    "last_contact_at FROM quality_flag_status WHERE held = 1"
)


def quality_held_sql(source: str, flags: str = HELD_FLAGS) -> str:
    """The event ids of ``source`` (a SELECT with event_id, org_id, campaign_id, channel,
    canvasser_id, occurred_at) that quality holds out: the contacts of a held flag's canvasser
    on its campaign and channel within its window (as the view quality_held_events, scoped)."""
    return (
        f"SELECT e.event_id FROM ({source}) AS e INNER JOIN ({flags}) AS h "
        "ON toString(e.org_id) = h.org_id AND toString(e.campaign_id) = h.campaign_id "
        "AND toString(e.channel) = h.channel AND e.canvasser_id = h.canvasser_id "
        "WHERE e.occurred_at >= h.first_contact_at AND e.occurred_at <= h.last_contact_at"
    )
