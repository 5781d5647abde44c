"""Feed the rollups again for contacts already stored.

A materialized view's insert is not atomic with its table's: a sink killed between them leaves
a rollup short of contacts the table holds, and the redelivered batch (dropped by the ledger,
sinks/ledger.py, as already stored) would never reach the view. So when the ledger drops
contacts that the store held before this sink started, the sink runs each view's own SELECT
again for just those contacts (``additional_table_filters``) into the view's table. Every
rollup fed from ``contact_events`` keeps idempotent states (``uniqExact``, ``any``, ``min``,
``max``): feeding a contact twice changes no number, so this can only heal.

The views are read from ``system.tables`` at start, so a rollup added by a migration is healed
without a change here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sinks.sql import string_literal

log = logging.getLogger(__name__)

_TARGET = re.compile(r"\bTO\s+(`?[\w.]+`?)", re.I)


@dataclass(frozen=True)
class Feed:
    view: str
    target: str
    select: str


class RollupFeeds:
    """The materialized views fed by each table."""

    def __init__(self, query: Callable[[str], list[list[Any]]]) -> None:
        self.feeds: dict[str, list[Feed]] = {}
        rows = query(
            "SELECT t.name, v.name, v.as_select, v.create_table_query "
            "FROM system.tables AS t ARRAY JOIN t.dependencies_table AS dependent "
            "INNER JOIN system.tables AS v ON v.name = dependent AND v.database = t.database "
            "WHERE t.database = currentDatabase() AND v.engine = 'MaterializedView'"
        )
        for table, view, select, create in rows:
            target = _TARGET.search(str(create))
            if target is None:  # a view without TO keeps its own table: not ours
                continue
            self.feeds.setdefault(str(table), []).append(
                Feed(str(view), target.group(1), str(select))
            )

    def statements(self, table: str, event_ids: Sequence[str]) -> list[str]:
        """The INSERTs that feed ``table``'s views again for ``event_ids``."""
        ids = ", ".join(string_literal(e) for e in event_ids)
        where = string_literal(f"event_id IN ({ids})")
        return [
            f"INSERT INTO {f.target} {f.select} "
            f"SETTINGS additional_table_filters = {{{string_literal(table)}: {where}}}"
            for f in self.feeds.get(table, [])
        ]
