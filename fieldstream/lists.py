"""Lists for the field tools: a campaign's targeted universe, never its held-out voters.

A holdout only measures anything if nobody contacts it, so every list fieldstream writes for the
field comes from the targeted members of the current universe (universe_current, holdout = 0);
held-out voters are counted, not written.
"""

from __future__ import annotations

import csv
from pathlib import Path

from core.errors import InputError
from sinks.remote import StoreAccess
from sinks.sql import string_literal

LIST_COLUMNS = ("state", "voter_id", "turf_id", "channel")


def targeted_select(org: str, campaign: str) -> str:
    return (
        f"SELECT {', '.join(LIST_COLUMNS)} FROM universe_current "
        f"WHERE org_id = {string_literal(org)} AND campaign_id = {string_literal(campaign)} "
        "AND holdout = 0 ORDER BY state, turf_id, voter_id"
    )


def write_targeted(store: StoreAccess, org: str, campaign: str, out: Path) -> tuple[int, int]:
    """Write the targeted members to ``out``; (written, held out and left out)."""
    scope = f"org_id = {string_literal(org)} AND campaign_id = {string_literal(campaign)}"
    counts = store.query(
        f"SELECT count(), countIf(holdout = 1) FROM universe_current WHERE {scope}"
    )[1]
    total, held_out = (int(v) for v in counts[0])
    if total == 0:
        raise InputError(f"{org}/{campaign} has no universe loaded")
    _columns, rows = store.query(targeted_select(org, campaign))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(LIST_COLUMNS)
        writer.writerows(rows)
    return len(rows), held_out
