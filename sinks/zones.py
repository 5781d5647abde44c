"""The program's clock at the sink: each contact's time zone, and putting old rows on it.

programs.yaml (core.config) gives every org/campaign an IANA zone. The sink stamps each
contact_events row with its campaign's zone and local day as it stores it (sinks/rows.py).
When a zone is edited (or rows were stored before zones existed, on UTC), the rows already
stored are on the old clock: :func:`sync_zones` finds every (org, campaign) whose rows carry
another zone, re-stamps them (one ALTER ... UPDATE per campaign: the texted-once-per-day key
is recomputed with the day) and recounts every rollup of that campaign from the ledger
(sinks/cells.py). It also writes ``program_zones``, where the boards read each campaign's zone.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from core.config import Programs, load_programs
from core.errors import ConfigError
from core.watch import WatchedFile
from sinks import cells
from sinks.sql import string_literal
from sinks.store import LockedStore

log = logging.getLogger(__name__)


class ProgramClock:
    """Each org/campaign's zone, from programs.yaml (reloaded when it changes)."""

    def __init__(self, programs_file: Path | None = None, programs: Programs | None = None):
        self.watched: WatchedFile[Programs] | None = None
        self.fixed = programs or Programs({})
        if programs is None and programs_file is not None:
            try:
                self.watched = WatchedFile(programs_file, load_programs, "programs")
            except ConfigError as exc:
                log.warning("%s: every campaign is on %s", exc, self.fixed.default_zone)

    @property
    def programs(self) -> Programs:
        return self.watched.value if self.watched is not None else self.fixed

    def zone_of(self, org_id: str, campaign_id: str) -> str:
        return self.programs.zone_of(org_id, campaign_id)

    def refresh(self) -> bool:
        """Re-read programs.yaml if it changed; True when new zones took effect."""
        return self.watched.refresh() if self.watched is not None else False


def stored_zones(store: LockedStore) -> dict[tuple[str, str], set[str]]:
    """(org, campaign) -> the zones its stored rows are on."""
    out: dict[tuple[str, str], set[str]] = {}
    for org, campaign, tz in store.rows(
        "SELECT toString(org_id), toString(campaign_id), toString(tz) FROM contact_events "
        "GROUP BY org_id, campaign_id, tz"
    ):
        out.setdefault((str(org), str(campaign)), set()).add(str(tz))
    return out


def write_program_zones(
    store: LockedStore, programs: Programs, extra: set[tuple[str, str]]
) -> None:
    zones = programs.zones()
    for key in extra - set(zones):
        zones[key] = programs.zone_of(*key)
    if not zones:
        return
    now = dt.datetime.now(dt.UTC)
    rows = [[org, campaign, tz, now] for (org, campaign), tz in sorted(zones.items())]
    store.insert("program_zones", ["org_id", "campaign_id", "tz", "updated_at"], rows)


def restamp(store: LockedStore, org_id: str, campaign_id: str, zone: str) -> None:
    """Put an org/campaign's stored rows on ``zone`` (waits for the mutation)."""
    z, org, campaign = string_literal(zone), string_literal(org_id), string_literal(campaign_id)
    store.command(
        f"ALTER TABLE contact_events UPDATE tz = {z}, local_day = toDate(occurred_at, {z}) "
        f"WHERE org_id = {org} AND campaign_id = {campaign} AND tz != {z}",
        settings={"mutations_sync": 2},
    )


def sync_zones(store: LockedStore, programs: Programs) -> list[tuple[str, str]]:
    """Write program_zones; re-stamp and recount every org/campaign whose rows are on another
    zone than programs.yaml gives it. Returns those (org, campaign)."""
    stored = stored_zones(store)
    write_program_zones(store, programs, set(stored))
    moved = []
    for (org_id, campaign_id), zones in sorted(stored.items()):
        zone = programs.zone_of(org_id, campaign_id)
        if zones == {zone}:
            continue
        log.warning(
            "%s / %s: rows on %s, programs.yaml says %s: re-stamping and recounting",
            org_id,
            campaign_id,
            ", ".join(sorted(zones)),
            zone,
        )
        restamp(store, org_id, campaign_id, zone)
        moved.append((org_id, campaign_id))
    if moved:
        cells.rewrite(store, [], programs.zone_of, whole=moved)
    return moved
