"""The quality agent's flags -> ClickHouse rows (sinks/ddl/013_quality.sql), and the rows of
people's reviews (``fieldstream quality approve|void`` inserts them through the store).

Plain functions, no I/O; :func:`register_quality` adds quality.flags to the sink's routing
table (sinks/routes.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from core.settings import TopicNames
from schemas import QUALITY_FLAG, AvroCodec
from sinks.routes import Routed, Routes, Where

Record = dict[str, Any]

QUALITY_FLAG_COLUMNS = [
    "flag_id", "org_id", "campaign_id", "channel", "canvasser_id", "shift_key",
    "first_contact_at", "last_contact_at", "flagged_at", "updated_at", "contacts", "score",
    "quarantine", "checks.name", "checks.value", "checks.threshold", "checks.weight",
    "checks.detail",
]  # fmt: skip

QUALITY_REVIEW_COLUMNS = [
    "review_id", "flag_id", "org_id", "campaign_id", "decision", "reviewer", "note",
    "reviewed_at",
]  # fmt: skip


def flag_row(rec: Record) -> list[Any]:
    checks = rec.get("checks") or []
    return [
        str(rec["flag_id"]),
        rec["org_id"],
        rec["campaign_id"],
        rec["channel"],
        rec["canvasser_id"],
        rec["shift_key"],
        rec["first_contact_at"],
        rec["last_contact_at"],
        rec["flagged_at"],
        rec["updated_at"],
        int(rec["contacts"]),
        float(rec["score"]),
        1 if rec["quarantine"] else 0,
        [c["check"] for c in checks],
        [c.get("value") for c in checks],
        [c.get("threshold") for c in checks],
        [float(c.get("weight", 1.0)) for c in checks],
        [orjson.dumps(c.get("detail") or {}).decode() for c in checks],
    ]


def register_quality(routes: Routes, topics: TopicNames, codec: AvroCodec) -> None:
    """Add quality.flags to the sink's routing table."""

    def flags(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=QUALITY_FLAG)
        return Routed("quality_flags", flag_row(rec))

    routes.add(topics.quality_flags, flags, {"quality_flags": QUALITY_FLAG_COLUMNS})
