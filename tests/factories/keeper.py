"""Let the ledger keeper finalise a test store, as the sink's keeper thread would."""

from __future__ import annotations

import datetime as dt

from core.config import Programs
from sinks.keeper import Keeper
from sinks.store import LockedStore
from sinks.zones import ProgramClock


def keeper_for(store: LockedStore, zone: str = "UTC") -> Keeper:
    """A keeper whose campaigns are all on ``zone`` (UTC: the tests' rows are stamped so by
    sinks.rows.contact_row's default), which reads the whole inbox every pass."""
    keeper = Keeper(
        store, ProgramClock(programs=Programs({}, default_zone=zone)), overlap_s=10 * 365 * 86400
    )
    keeper.start_up()
    return keeper


def settle(keeper: Keeper, now: dt.datetime | None = None) -> None:
    """One pass of everything the keeper does (universes and forecasts included)."""
    keeper.universes_at = 0.0
    keeper.last_forecast = 0.0
    keeper.run_pass(now)
