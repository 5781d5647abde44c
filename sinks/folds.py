"""One contact, one count, whatever the path: folding a contact into its copy from another path.

A texting tool's webhook and VAN's export of that tool's own write-back carry different ids for
one contact. The rule (docs/analytics.md, "One contact, one count"):

two stored contacts are copies of one contact when they are of the same org, campaign, channel
and canonical result, name the same person (they share a voter id in one state, a VAN id, a
state file id or a vendor id), come from the two sources of a pair configured for the org in
programs.yaml (``folds.pairs``: [primary, secondary]) and happened within
``folds.window_minutes`` of each other. Each contact is a copy of at most one other: pairs are
made nearest in time first (then by event id), and a pair once made is kept.

The primary's copy counts; the secondary's is folded into it (contact_suppressions, kind
'fold', ref = the primary's event id), so it counts nowhere but stays stored with its own id
(the contact_folds view lists both ids). Two contacts from one source never fold, so two
genuine attempts sent by one path always count twice; two attempts on one person within the
window fold only as far as the other path also recorded two.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.config import FoldConfig, Programs
from sinks.cells import Cell
from sinks.corrections import SUPPRESSION_COLUMNS, Changes, suppression
from sinks.rows import Record
from sinks.sql import string_literal
from sinks.store import LockedStore

log = logging.getLogger(__name__)

PERSON_KEYS = (
    "arrayFilter(k -> k != '', ["
    "if(voter_id != '', concat('voter:', state, ':', voter_id), ''), "
    "if(van_id != '', concat('van:', van_id), ''), "
    "if(state_file_id != '', concat('sfid:', state_file_id), ''), "
    "if(vendor_id != '', concat('vendor:', vendor_id), '')])"
)


@dataclass(frozen=True)
class Candidate:
    primary: str
    secondary: str
    gap_ms: int
    org_id: str
    campaign_id: str
    primary_source: str
    secondary_day: dt.date
    secondary_at: dt.datetime


def pair_up(candidates: Iterable[Candidate], taken: set[str]) -> list[Candidate]:
    """One-to-one pairs, nearest in time first (then by ids); ``taken``: event ids already in
    a pair (kept as they are)."""
    made = []
    used = set(taken)
    for c in sorted(candidates, key=lambda c: (c.gap_ms, c.primary, c.secondary)):
        if c.primary in used or c.secondary in used:
            continue
        used.update((c.primary, c.secondary))
        made.append(c)
    return made


def _pairs(programs: Programs, orgs: Sequence[str]) -> list[tuple[str, FoldConfig]]:
    return [(org, programs.folds_of(org)) for org in orgs if programs.folds_of(org).pairs]


def candidates_sql(org_id: str, folds: FoldConfig, window: str) -> str:
    """Candidate (primary, secondary) copies with one side among ``window``'s contacts."""
    w = int(folds.window_minutes) * 60_000
    pairs = ", ".join(f"({string_literal(p)}, {string_literal(s)})" for p, s in folds.pairs)
    org = string_literal(org_id)
    sources = ", ".join(string_literal(x) for pair in folds.pairs for x in pair)
    new = (
        "SELECT DISTINCT toString(campaign_id) AS campaign_id, event_id, "
        "toString(source_system) AS source_system, toString(channel) AS channel, "
        "toString(result) AS result, occurred_at, local_day, arrayJoin("
        f"{PERSON_KEYS}) AS person FROM ({window}) WHERE org_id = {org} "
        f"AND source_system IN ({sources})"
    )
    stored = (
        "SELECT toString(campaign_id) AS campaign_id, event_id, "
        "toString(source_system) AS source_system, toString(channel) AS channel, "
        "toString(result) AS result, occurred_at, local_day, arrayJoin("
        f"{PERSON_KEYS}) AS person FROM contact_events FINAL WHERE org_id = {org} "
        f"AND source_system IN ({sources}) AND campaign_id IN "
        f"(SELECT campaign_id FROM ({new})) AND occurred_at >= "
        f"(SELECT min(occurred_at) FROM ({new})) - toIntervalMillisecond({w}) AND occurred_at <= "
        f"(SELECT max(occurred_at) FROM ({new})) + toIntervalMillisecond({w})"
    )
    return (
        "SELECT DISTINCT p.event_id, s.event_id, "
        "abs(toUnixTimestamp64Milli(p.occurred_at) - toUnixTimestamp64Milli(s.occurred_at)), "
        "p.campaign_id, p.source_system, s.local_day, s.occurred_at "
        f"FROM ({stored}) AS p INNER JOIN ({stored}) AS s "
        "ON p.campaign_id = s.campaign_id AND p.person = s.person AND p.channel = s.channel "
        "AND p.result = s.result "
        f"WHERE (p.source_system, s.source_system) IN ({pairs}) "
        f"AND abs(toUnixTimestamp64Milli(p.occurred_at) - toUnixTimestamp64Milli(s.occurred_at))"
        f" <= {w} AND (p.event_id IN (SELECT event_id FROM ({new})) "
        f"OR s.event_id IN (SELECT event_id FROM ({new})))"
    )


def taken(store: LockedStore, org_id: str, ids: set[str]) -> set[str]:
    """Of ``ids``, those already in a pair (folded, or the copy something was folded into)."""
    if not ids:
        return set()
    listed = ", ".join(string_literal(i) for i in sorted(ids))
    rows = store.rows(
        "SELECT event_id, ref FROM contact_suppressions FINAL WHERE kind = 'fold' AND active = 1 "
        f"AND org_id = {string_literal(org_id)} AND (event_id IN ({listed}) OR ref IN ({listed}))"
    )
    return {str(x) for r in rows for x in r} & ids


def fold_new(store: LockedStore, programs: Programs, window: str) -> Changes:
    """Fold the contacts of ``window`` (inbox rows) into their copies from another path, and
    their copies into them; returns the cells of the contacts folded, and the folds."""
    orgs = [str(r[0]) for r in store.rows(f"SELECT DISTINCT toString(org_id) FROM ({window})")]
    cells: set[Cell] = set()
    records: list[Record] = []
    for org_id, folds in _pairs(programs, orgs):
        found = [
            Candidate(str(p), str(s), int(gap), org_id, str(c), str(src), day, at)
            for p, s, gap, c, src, day, at in store.rows(candidates_sql(org_id, folds, window))
        ]
        if not found:
            continue
        involved = {c.primary for c in found} | {c.secondary for c in found}
        made = pair_up(found, taken(store, org_id, involved))
        if made:
            version = write(store, made)
            cells |= {Cell(c.org_id, c.campaign_id, c.secondary_day) for c in made}
            records += [
                suppression(
                    c.secondary, c.org_id, c.campaign_id, c.secondary_at, "fold", True, version
                )
                for c in made
            ]
            log.info(
                "%s: folded %d contact(s) into their copy from another path", org_id, len(made)
            )
    return cells, records


def write(store: LockedStore, made: Sequence[Candidate]) -> int:
    """Store the folds; returns their version (the time they were decided, ms)."""
    version = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    rows: list[list[Any]] = [
        [
            c.org_id,
            c.campaign_id,
            c.secondary,
            "fold",
            1,
            c.primary,
            f"the same contact as {c.primary} from {c.primary_source}",
            "fold rule",
            version,
        ]
        for c in made
    ]
    store.insert("contact_suppressions", SUPPRESSION_COLUMNS, rows)
    return version
