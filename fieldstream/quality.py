"""The store side of data quality: flags as they stand, and people's reviews of them.

``fieldstream quality list | show | approve | void`` (fieldstream/cli_quality.py) call these.
A review is a row of quality_reviews, inserted through the store (the sink's side-input
endpoint while it runs); the newest review of a flag holds (view quality_flag_status).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson

from core.errors import InputError
from sinks.quality_rows import QUALITY_REVIEW_COLUMNS
from sinks.remote import StoreAccess
from sinks.sql import string_literal as literal

STATUSES = ("pending", "approved", "voided")
LIST_COLUMNS = (
    "flag_id", "org_id", "campaign_id", "channel", "canvasser_id", "first_contact_at",
    "last_contact_at", "contacts", "score", "checks_fired", "status", "held",
)  # fmt: skip


def list_flags(
    store: StoreAccess,
    *,
    org: str | None = None,
    campaign: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Flags as they stand, newest first, filtered by org, campaign and status."""
    if status is not None and status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    where = ["1"]
    for column, value in (("org_id", org), ("campaign_id", campaign), ("status", status)):
        if value is not None:
            where.append(f"{column} = {literal(value)}")
    sql = (
        f"SELECT {', '.join(LIST_COLUMNS)} FROM quality_flag_status WHERE {' AND '.join(where)}"
        f" ORDER BY flagged_at DESC LIMIT {int(limit)}"
    )
    columns, rows = store.query(sql)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def show_flag(store: StoreAccess, flag_id: str) -> dict[str, Any]:
    """One flag with its evidence: every check that fired, its figure, threshold and numbers."""
    columns, rows = store.query(
        f"SELECT * FROM quality_flag_status WHERE flag_id = {literal(_flag_id(flag_id))}"
    )
    if not rows:
        raise InputError(f"no flag {flag_id}: `fieldstream quality list` shows them")
    flag = dict(zip(columns, rows[0], strict=True))
    flag["checks"] = [
        {"check": n, "value": v, "threshold": t, "detail": orjson.loads(d)}
        for n, v, t, d in zip(
            flag.pop("checks_fired"),
            flag.pop("checks_value"),
            flag.pop("checks_threshold"),
            flag.pop("checks_detail"),
            strict=True,
        )
    ]
    return flag


def review(
    store: StoreAccess,
    flag_id: str,
    decision: str,
    reviewer: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record ``decision`` (approve or void) on a flag; returns the flag as it now stands."""
    if decision not in ("approve", "void"):
        raise InputError(f"decision must be approve or void; got {decision!r}")
    if not reviewer.strip():
        raise InputError("say who decides (--by)")
    flag = show_flag(store, flag_id)
    at = now or dt.datetime.now(dt.UTC)
    row = [str(uuid.uuid4()), flag["flag_id"], flag["org_id"], flag["campaign_id"], decision,
           reviewer.strip(), note, at]  # fmt: skip
    store.insert("quality_reviews", QUALITY_REVIEW_COLUMNS, [row])
    return show_flag(store, flag_id)


def _flag_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InputError(f"{value!r} is not a flag id (a UUID)") from None
