"""Dead letters at rest in the store: each original sealed (core/sealing.py) before it is
written, and a retention: ClickHouse drops letters older than ``dead_letters.retention_days``
(a TTL on failed_at, set by the sink at start whenever the setting differs from the table's)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from core.errors import StoreError
from core.sealing import PREFIX, Sealer
from sinks.sql import string_literal

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


def seal_stored(client: Any, sealer: Sealer, batch: int = 500) -> int:
    """Seal, in place, the originals stored before dead letters were sealed; how many. Safe
    to run at every start (nothing to do once all are sealed)."""
    plain = f"NOT startsWith(original, {string_literal(PREFIX)})"
    sealed_now = 0
    try:
        pending = int(client.query(f"SELECT uniqExact(dead_letter_id) FROM {TABLE} WHERE {plain}")
                      .result_rows[0][0])  # fmt: skip
        for _ in range(-(-pending // batch)):
            rows = client.query(
                f"SELECT dead_letter_id, any(original) FROM {TABLE} WHERE {plain} "
                f"GROUP BY dead_letter_id LIMIT {int(batch)}"
            ).result_rows
            if not rows:
                break
            ids = "[" + ", ".join(string_literal(str(r[0])) for r in rows) + "]"
            texts = "[" + ", ".join(string_literal(sealer.seal(str(r[1]))) for r in rows) + "]"
            client.command(
                f"ALTER TABLE {TABLE} UPDATE original = transform(dead_letter_id, {ids}, "
                f"{texts}, original) WHERE has({ids}, dead_letter_id) AND {plain}",
                settings={"mutations_sync": 2},
            )
            sealed_now += len(rows)
    except Exception as exc:
        raise StoreError(f"cannot seal the dead letters stored before: {exc}") from exc
    if sealed_now:
        log.info("sealed %d dead letters stored before sealing", sealed_now)
    return sealed_now


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
