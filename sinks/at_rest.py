"""Dead letters at rest in the store: each original sealed (core/sealing.py) before it is
written, and a retention: ClickHouse drops letters older than ``dead_letters.retention_days``
(a TTL on failed_at, set by the sink at start whenever the setting differs from the table's)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from core.errors import StoreError
from core.sealing import Sealer

log = logging.getLogger(__name__)

TABLE = "dead_letters"
_TTL = re.compile(r"\bTTL\s+(.*?)(?:\s+SETTINGS\b|$)", re.S)


def seal_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], sealer: Sealer
) -> list[list[Any]]:
    """The rows with their ``original`` sealed (text; bytes are read as UTF-8 first)."""
    at = list(columns).index("original")
    out = []
    for row in rows:
        sealed = list(row)
        value = sealed[at]
        text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
        sealed[at] = sealer.seal(str(text or ""))
        out.append(sealed)
    return out


def retention_expression(days: int) -> str:
    return f"toDateTime(failed_at) + toIntervalDay({int(days)})"


def apply_retention(client: Any, days: int) -> bool:
    """Set the table's TTL to ``days`` if it is not that already; True if it changed."""
    want = retention_expression(days)
    try:
        rows = client.query(
            "SELECT engine_full FROM system.tables "
            "WHERE database = currentDatabase() AND name = {t:String}",
            parameters={"t": TABLE},
        ).result_rows
        current = _TTL.search(str(rows[0][0])) if rows else None
        if current is not None and current.group(1).strip() == want:
            return False
        client.command(f"ALTER TABLE {TABLE} MODIFY TTL {want}")
    except Exception as exc:
        raise StoreError(f"cannot set the dead letters' retention: {exc}") from exc
    log.info("dead letters are kept %d days", days)
    return True
