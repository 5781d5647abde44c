"""The ledger: contact_events, and the contacts that count (every derived table's source).

contact_events holds every stored copy of every contact. The contacts that count are the
latest copy of each (FINAL), less those a correction voided or that were folded into their
copy from another path (sinks/ddl/021_corrections.sql). :func:`counted_sql` is that set as
SQL, for one org/campaign and optionally some local days: every recount reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sinks.sql import string_literal

LEDGER = "contact_events"


class Sql(Protocol):
    """What a recount needs of a store (sinks.store.LockedStore has these)."""

    def rows(self, sql: str) -> list[list[Any]]: ...

    def command(self, sql: str) -> None: ...

    def atomic(self) -> AbstractContextManager[Any]:
        """Hold the store for several statements (readers through the same store wait)."""
        ...


def dates(days: Sequence[dt.date]) -> str:
    """A SQL list of Date literals."""
    return ", ".join(f"toDate('{d.isoformat()}')" for d in sorted(set(days)))


def counted_sql(
    org_id: str,
    campaign_id: str,
    days: Sequence[dt.date] | None = None,
    extra_columns: Sequence[str] = ("attempt_key",),
) -> str:
    """The counted contacts of an org/campaign (on those local days): the latest copy of each
    stored contact, less the voided and folded ones."""
    org, campaign = string_literal(org_id), string_literal(campaign_id)
    where = f"org_id = {org} AND campaign_id = {campaign}"
    if days:
        low, high = min(days) - dt.timedelta(days=2), max(days) + dt.timedelta(days=2)
        # occurred_at bounds let ClickHouse skip partitions; local_day picks the cells
        where += (
            f" AND occurred_at >= toDateTime64('{low.isoformat()}', 3, 'UTC')"
            f" AND occurred_at < toDateTime64('{high.isoformat()}', 3, 'UTC')"
            f" AND local_day IN ({dates(days)})"
        )
    extra = "".join(f", {c}" for c in extra_columns)
    return (
        f"SELECT *{extra} FROM {LEDGER} FINAL WHERE {where} AND event_id NOT IN "
        f"(SELECT event_id FROM suppressed_events WHERE org_id = {org} "
        f"AND campaign_id = {campaign})"
    )
