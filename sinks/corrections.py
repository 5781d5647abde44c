"""Corrections at the sink: store each one (contacts.corrections -> corrections), and apply them.

A correction (schemas/corrections.py) names contacts by a selector. Applying corrections sets,
for each stored contact some correction matches, its ``void`` suppression to what the LAST
requested of the corrections matching it says (void: suppressed; unvoid: counted again), with
that correction's request time as the row's version, so the newest wins whatever order
corrections are applied in (sinks/ddl/024_corrections.sql). The ledger keeper applies

- each new correction to every stored contact of its org (:func:`apply_new`), and
- every correction of their org to the contacts stored since its last pass
  (:func:`apply_standing`): a void covers the contacts it matches that arrive later too, such as
  the rest of an import run or of a canvasser's fabricated walk list;

and then recounts the cells of those contacts from the ledger (sinks/cells.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sinks.cells import Cell
from sinks.rows import Record, Row
from sinks.sql import datetime64, string_literal
from sinks.store import LockedStore

log = logging.getLogger(__name__)

CORRECTION_COLUMNS = [
    "correction_id", "org_id", "action", "campaign_id", "event_ids", "canvasser_id",
    "source_system", "import_run", "time_from", "time_to", "undo", "reason", "requested_by",
    "requested_at",
]  # fmt: skip
APPLIED = "correction:"  # keeper_state key prefix of an applied correction
SUPPRESSION_COLUMNS = [
    "org_id", "campaign_id", "event_id", "kind", "active", "ref", "reason", "requested_by",
    "version",
]  # fmt: skip


def correction_row(rec: Record) -> Row:
    """One corrections row (CORRECTION_COLUMNS order) from a decoded Correction."""
    return [
        rec["correction_id"],
        rec["org_id"],
        rec["action"],
        rec.get("campaign_id") or "",
        list(rec.get("event_ids") or []),
        rec.get("canvasser_id") or "",
        rec.get("source_system") or "",
        rec.get("import_run") or "",
        rec.get("time_from"),
        rec.get("time_to"),
        rec.get("undo") or "",
        rec["reason"],
        rec["requested_by"],
        rec["requested_at"],
    ]


MATCHES = (
    "(c.campaign_id = '' OR c.campaign_id = toString(e.campaign_id)) "
    "AND (empty(c.event_ids) OR has(c.event_ids, e.event_id)) "
    "AND (c.canvasser_id = '' OR c.canvasser_id = e.canvasser_id) "
    "AND (c.source_system = '' OR c.source_system = toString(e.source_system)) "
    "AND (c.import_run = '' OR c.import_run = e.import_run) "
    "AND (c.time_from IS NULL OR e.occurred_at >= c.time_from) "
    "AND (c.time_to IS NULL OR e.occurred_at < c.time_to)"
)


Changes = tuple[set[Cell], list[Record]]
"""The cells whose contacts changed state, and each change as a Suppression record."""


def suppression(
    event_id: str, org_id: str, campaign_id: str, occurred_at: Any, kind: str, active: bool, at: Any
) -> Record:
    """A Suppression record (org.fieldstream.v1.Suppression) for the exchange."""
    return {
        "event_id": str(event_id),
        "org_id": str(org_id),
        "campaign_id": str(campaign_id),
        "occurred_at": _aware(occurred_at),
        "kind": kind,
        "active": bool(active),
        "decided_at": _aware(at)
        if isinstance(at, dt.datetime)
        else dt.datetime.fromtimestamp(int(at) / 1000, dt.UTC),
    }


def decide(store: LockedStore, events_sql: str, orgs_sql: str) -> Changes:
    """For each event of ``events_sql`` some correction of ``orgs_sql``'s orgs matches, write
    its void suppression as the latest matching correction says; returns what changed state
    (voided, or counted again)."""
    latest = (
        "SELECT toString(e.org_id) AS org_id, toString(e.campaign_id) AS campaign_id, "
        "e.event_id AS event_id, any(e.local_day) AS local_day, "
        "any(e.occurred_at) AS occurred_at, "
        "argMax(tuple(c.action, c.correction_id, c.reason, c.requested_by), c.version) AS last, "
        "max(c.version) AS last_version "
        f"FROM ({events_sql}) AS e INNER JOIN "
        f"(SELECT * FROM corrections_resolved WHERE org_id IN ({orgs_sql})) AS c "
        f"ON toString(e.org_id) = c.org_id WHERE {MATCHES} "
        "GROUP BY e.org_id, e.campaign_id, e.event_id"
    )
    now = (
        "SELECT toString(org_id) AS org_id, event_id, argMax(active, version) AS seen_active, "
        "max(version) AS seen_version FROM contact_suppressions WHERE kind = 'void' "
        f"AND org_id IN ({orgs_sql}) GROUP BY org_id, event_id"
    )
    changed = (
        f"SELECT l.* FROM ({latest}) AS l LEFT JOIN ({now}) AS s "
        "ON s.org_id = l.org_id AND s.event_id = l.event_id "
        "WHERE l.last_version > s.seen_version AND toUInt8(l.last.1 = 'void') != s.seen_active"
    )
    with store.atomic():
        found = store.rows(
            "SELECT org_id, campaign_id, event_id, local_day, occurred_at, last.1 = 'void', "
            f"last_version FROM ({changed})"
        )
        if found:
            store.command(
                f"INSERT INTO contact_suppressions ({', '.join(SUPPRESSION_COLUMNS)}) "
                "SELECT org_id, campaign_id, event_id, 'void', toUInt8(last.1 = 'void'), "
                f"last.2, last.3, last.4, last_version FROM ({changed})"
            )
    cells = {Cell(str(o), str(c), d) for o, c, _e, d, _t, _a, _v in found}
    records = [suppression(e, o, c, t, "void", a, v) for o, c, e, _d, t, a, v in found]
    return cells, records


def pending(store: LockedStore) -> list[list[Any]]:
    """Corrections stored but not applied yet, oldest first: their resolved selectors."""
    return store.rows(
        "SELECT correction_id, org_id, campaign_id, event_ids, time_from, time_to "
        f"FROM corrections_resolved WHERE concat('{APPLIED}', correction_id) NOT IN "
        f"(SELECT key FROM keeper_state WHERE startsWith(key, '{APPLIED}')) "
        "ORDER BY requested_at, correction_id"
    )


def _prefilter(campaign_id: str, event_ids: list[str], since: Any, until: Any) -> str:
    """Conditions that let ClickHouse skip what a correction cannot match."""
    where = ""
    if campaign_id:
        where += f" AND campaign_id = {string_literal(campaign_id)}"
    if event_ids:
        where += f" AND event_id IN ({', '.join(string_literal(i) for i in event_ids)})"
    if since is not None and until is not None:
        where += (
            f" AND occurred_at >= {datetime64(_aware(since))}"
            f" AND occurred_at < {datetime64(_aware(until))}"
        )
    return where


def _aware(at: Any) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def apply_new(store: LockedStore) -> Changes:
    """Apply every correction not applied yet to the stored contacts of its org."""
    cells: set[Cell] = set()
    records: list[Record] = []
    for correction_id, org_id, campaign_id, event_ids, since, until in pending(store):
        org = string_literal(str(org_id))
        where = _prefilter(str(campaign_id), list(event_ids), since, until)
        events = f"SELECT * FROM contact_events FINAL WHERE org_id = {org}{where}"
        found, changed = decide(store, events, org)
        cells |= found
        records += changed
        store.insert(
            "keeper_state",
            ["key", "value", "updated_at"],
            [[f"{APPLIED}{correction_id}", str(len(changed)), dt.datetime.now(dt.UTC)]],
        )
        log.info("applied correction %s: %d contact(s) changed", correction_id, len(changed))
    return cells, records


def announced(store: LockedStore) -> list[Record]:
    """Every current suppression as a Suppression record (the keeper announces them all when
    it starts, so a partner misses none that a crash kept from being sent)."""
    rows = store.rows(
        "SELECT s.event_id, toString(s.org_id), toString(s.campaign_id), e.occurred_at, "
        "toString(s.kind), s.active, s.version FROM contact_suppressions AS s FINAL "
        "INNER JOIN (SELECT org_id, campaign_id, event_id, any(occurred_at) AS occurred_at "
        "FROM contact_events WHERE (org_id, campaign_id, event_id) IN "
        "(SELECT org_id, campaign_id, event_id FROM contact_suppressions) "
        "GROUP BY org_id, campaign_id, event_id) AS e "
        "ON e.org_id = s.org_id AND e.campaign_id = s.campaign_id AND e.event_id = s.event_id"
    )
    return [suppression(*r) for r in rows]


def apply_standing(store: LockedStore, window: str) -> Changes:
    """Every correction of their orgs, applied to the contacts of ``window`` (inbox rows)."""
    orgs = f"SELECT DISTINCT toString(org_id) FROM ({window})"
    return decide(store, window, orgs)
