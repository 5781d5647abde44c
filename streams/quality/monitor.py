"""The incremental monitor: contacts in, flags out, while the shift is still running.

Each contact joins its shift (the shift id the tool sent, or else the canvasser's run of
contacts with no pause longer than shift_gap_min) and its peer group (org, campaign, channel,
local day). Once the shift has min_contacts, every check runs on it; the shift is flagged when
the weights of the checks that fired reach flag_score, and flagged again (same flag id) when
more checks fire. A contact delivered twice (the pipeline is at-least-once) counts once.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

from streams.quality.checks import shift_checks
from streams.quality.model import CheckResult, Flag, Obs
from streams.quality.peers import GroupKey, PeerBook
from streams.quality.policy import QualityPolicy, QualitySettings

FLAG_NAMESPACE = uuid.UUID("6f1d5a52-4c1e-4f0e-9a51-3b7e0c9d2a10")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(t: float, timezone: str) -> str:
    return dt.datetime.fromtimestamp(t, _zone(timezone)).date().isoformat()


@dataclass
class Shift:
    key: str
    contacts: list[Obs] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    evidence: dict[str, CheckResult] = field(default_factory=dict)  # checks fired when flagged

    def add(self, o: Obs) -> bool:
        if o.event_id in self.seen:
            return False
        self.seen.add(o.event_id)
        times = [c.occurred_at for c in self.contacts]
        self.contacts.insert(bisect.bisect_right(times, o.occurred_at), o)
        return True

    @property
    def first(self) -> float:
        return self.contacts[0].occurred_at

    @property
    def last(self) -> float:
        return self.contacts[-1].occurred_at


def score(results: list[CheckResult]) -> float:
    return sum(r.weight for r in results if r.fired)


class QualityMonitor:
    """Shifts and peer groups in memory; :meth:`observe` returns a flag when one is raised or
    grows. :meth:`evict` forgets shifts and groups older than a horizon."""

    def __init__(self, settings: QualitySettings | None = None) -> None:
        self.settings = settings or QualitySettings()
        self.peers = PeerBook()
        self.shifts: dict[str, Shift] = {}
        # derived shifts per (org, campaign, channel, canvasser), newest last
        self._runs: dict[tuple[str, str, str, str], list[Shift]] = {}

    def _shift_for(self, o: Obs, pol: QualityPolicy) -> Shift:
        if o.shift_id:
            key = f"{o.org_id}/{o.campaign_id}/{o.canvasser_id}/{o.shift_id}"
            return self.shifts.setdefault(key, Shift(key))
        runs = self._runs.setdefault((o.org_id, o.campaign_id, o.channel, o.canvasser_id), [])
        gap = pol.shift_gap_min * 60
        for shift in reversed(runs):
            if shift.first - gap <= o.occurred_at <= shift.last + gap:
                return shift
        start = dt.datetime.fromtimestamp(o.occurred_at, dt.UTC).strftime("%Y%m%dT%H%M%S")
        key = f"{o.org_id}/{o.campaign_id}/{o.canvasser_id}/{o.channel}@{start}"
        shift = Shift(key)
        runs.append(shift)
        self.shifts[key] = shift
        return shift

    def observe(self, o: Obs) -> Flag | None:
        pol = self.settings.policy_for(o.org_id, o.campaign_id)
        shift = self._shift_for(o, pol)
        if not shift.add(o):
            return None
        group: GroupKey = (
            o.org_id,
            o.campaign_id,
            o.channel,
            local_day(o.occurred_at, pol.timezone),
        )
        self.peers.add(group, o)
        if len(shift.contacts) < pol.min_contacts:
            return None
        results = shift_checks(shift.contacts, pol)
        results += self.peers.checks(group, o.canvasser_id, o.channel, pol)
        total = score(results)
        fired = frozenset(r.check for r in results if r.fired)
        if total < pol.flag_score or fired <= shift.evidence.keys():
            return None
        shift.evidence.update((r.check, r) for r in results if r.fired)
        return Flag(
            flag_id=str(uuid.uuid5(FLAG_NAMESPACE, shift.key)),
            org_id=o.org_id,
            campaign_id=o.campaign_id,
            channel=o.channel,
            canvasser_id=o.canvasser_id,
            shift_key=shift.key,
            first_contact_at=shift.first,
            last_contact_at=shift.last,
            flagged_at=o.occurred_at,
            contacts=len(shift.contacts),
            score=round(total, 2),
            checks=tuple(shift.evidence.values()),
        )

    def evict(self, before: float) -> int:
        """Forget shifts whose last contact is before ``before`` (epoch s) and peer groups of
        earlier days; the number of shifts forgotten."""
        old = [k for k, s in self.shifts.items() if s.last < before]
        for k in old:
            del self.shifts[k]
        for key, runs in list(self._runs.items()):
            runs[:] = [s for s in runs if s.last >= before]
            if not runs:
                del self._runs[key]
        self.peers.drop_before(dt.datetime.fromtimestamp(before, dt.UTC).date().isoformat())
        return len(old)
