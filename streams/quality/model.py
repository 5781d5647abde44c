"""What the quality checks read and what they produce.

:class:`Obs` is one contact as the checks see it: the few fields of an enriched contact that
bear on whether it was fabricated (times, place, result, the evidence fields).
:func:`obs_from_enriched` builds it from an enriched contact record (decoded Avro, or the same
shape as JSON).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# sources that send only a date put every contact at midnight: timing checks skip those
_DAY_S = 86400


@dataclass(frozen=True, slots=True)
class Obs:
    """One contact, as the quality checks see it. Times are epoch seconds (UTC)."""

    event_id: str
    org_id: str
    campaign_id: str
    channel: str  # door, phone, text
    canvasser_id: str
    occurred_at: float
    result: str
    shift_id: str | None = None
    input_method: str = "other"
    support_level: int | None = None  # the ID (1 strong support .. 5 strong oppose)
    has_responses: bool = False
    lat: float | None = None  # where the canvasser's device was
    lon: float | None = None
    accuracy_m: float | None = None
    voter_lat: float | None = None  # where the voter lives (address) or votes (precinct)
    voter_lon: float | None = None
    voter_place: str | None = None  # "address" or "precinct": how precise voter_lat/lon is
    call_duration_s: float | None = None
    reached: str | None = None  # "person" or "machine", when the dialer knows

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def voter_located(self) -> bool:
        return self.voter_lat is not None and self.voter_lon is not None

    @property
    def is_contact(self) -> bool:
        """A conversation with the person (the standard's ``canvassed``)."""
        return self.result == "canvassed"

    @property
    def has_id(self) -> bool:
        return self.support_level is not None

    @property
    def date_only(self) -> bool:
        """A time of exactly midnight UTC is read as a date without a time (VAN's
        ``dateCanvassed`` as some tools send it): no timing check can use it."""
        return self.occurred_at % _DAY_S == 0

    timed_live: bool = field(init=False)
    """Whether the time is when the contact happened, not when a form was typed in later
    (paper sheets and bulk imports carry data-entry times) nor a bare date."""

    def __post_init__(self) -> None:
        live = self.input_method not in ("paper", "bulk_import") and not self.date_only
        object.__setattr__(self, "timed_live", live)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check on one shift: whether it fired, its figure, the threshold it was held to,
    and the numbers behind it (kept with the flag as evidence)."""

    check: str
    fired: bool
    value: float | None = None
    threshold: float | None = None
    weight: float = 1.0
    detail: dict[str, float | int | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flag:
    """A shift the checks flagged: every check that fired, with its numbers.

    ``flagged_at`` is the event time (epoch s) at which the shift crossed the flag score: the
    latest contact time the monitor had seen then. The flag is emitted again with the same
    ``flag_id`` (and a later ``updated_at``) when its evidence grows (another check fires)
    and with every further contact of its shift (its window and counts move on)."""

    flag_id: str
    org_id: str
    campaign_id: str
    channel: str
    canvasser_id: str
    shift_key: str
    first_contact_at: float
    last_contact_at: float
    flagged_at: float
    updated_at: float
    contacts: int
    score: float
    checks: tuple[CheckResult, ...]

    @property
    def fired(self) -> tuple[str, ...]:
        return tuple(c.check for c in self.checks if c.fired)


def _epoch_s(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value) / 1000.0  # Avro timestamp-millis as a number
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    raise TypeError(f"occurred_at of type {type(value).__name__} is not a time")


def _support(responses: list[dict[str, Any]]) -> int | None:
    for r in responses:
        level = r.get("support_level")
        if level is not None:
            return int(level)
    return None


def _voter_place(voter: dict[str, Any] | None) -> tuple[float | None, float | None, str | None]:
    if not voter:
        return None, None, None
    if voter.get("address_lat") is not None and voter.get("address_lon") is not None:
        return float(voter["address_lat"]), float(voter["address_lon"]), "address"
    if voter.get("precinct_lat") is not None and voter.get("precinct_lon") is not None:
        return float(voter["precinct_lat"]), float(voter["precinct_lon"]), "precinct"
    return None, None, None


def obs_from_enriched(record: dict[str, Any]) -> Obs | None:
    """The checks' view of an enriched contact, or None when it names no canvasser (a
    contact nobody can be accountable for is not a canvasser-quality question)."""
    contact = record["contact"]
    canvasser = contact.get("canvasser_id")
    if not canvasser:
        return None
    location = contact.get("location") or {}
    voter_lat, voter_lon, place = _voter_place(record.get("voter"))
    duration = contact.get("call_duration_s")
    return Obs(
        event_id=str(contact["event_id"]),
        org_id=contact["org_id"],
        campaign_id=contact["campaign_id"],
        channel=contact["channel"],
        canvasser_id=canvasser,
        occurred_at=_epoch_s(contact["occurred_at"]),
        result=contact["result"],
        shift_id=contact.get("shift_id"),
        input_method=contact.get("input_method") or "other",
        support_level=_support(contact.get("responses") or []),
        has_responses=bool(contact.get("responses")),
        lat=location.get("lat"),
        lon=location.get("lon"),
        accuracy_m=location.get("accuracy_m"),
        voter_lat=voter_lat,
        voter_lon=voter_lon,
        voter_place=place,
        call_duration_s=float(duration) if duration is not None else None,
        reached=contact.get("reached"),
    )
