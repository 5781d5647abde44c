"""The incremental monitor: contacts in, flags out, while the shift is still running.

Each contact joins its shift (the shift id the tool sent, or else the canvasser's run of
contacts with no pause longer than shift_gap_min) and its peer group (org, campaign, channel,
local day). Once the shift has min_contacts, every check runs on it, and again each time it grew by
rejudge_share of its contacts (and on :meth:`QualityMonitor.judge` with ``everything``, which
the agent calls when the stream goes quiet and every 10 s); the shift is flagged when
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


def _occurred_at(o: Obs) -> float:
    return o.occurred_at


@dataclass
class Shift:
    key: str
    canvasser_id: str
    group: GroupKey  # its peers: org, campaign, channel, the local day it started
    contacts: list[Obs] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    evidence: dict[str, CheckResult] = field(default_factory=dict)  # checks fired when flagged
    flagged_at: float = 0.0
    own: list[CheckResult] = field(default_factory=list)  # its own-contacts checks, last run
    judged: int = 0  # how many contacts it had when its own checks last ran

    def add(self, o: Obs) -> bool:
        if o.event_id in self.seen:
            return False
        self.seen.add(o.event_id)
        # in time order; a texter's shift runs to thousands of contacts, so no list of times
        at = bisect.bisect_right(self.contacts, o.occurred_at, key=_occurred_at)
        self.contacts.insert(at, o)
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
    """Shifts and peer groups in memory. :meth:`add` takes contacts in, :meth:`judge` returns
    the flags they raised or grew: their own shifts', and, every peer_review_every contacts of
    a peer group, those of the group's other shifts (a shift that began before its peers had
    enough contacts to compare with is judged again as they come in). :meth:`observe` is both
    for one contact. :meth:`evict` forgets old shifts and groups."""

    def __init__(self, settings: QualitySettings | None = None) -> None:
        self.settings = settings or QualitySettings()
        self.peers = PeerBook()
        self.shifts: dict[str, Shift] = {}
        # derived shifts per (org, campaign, channel, canvasser), newest last
        self._runs: dict[tuple[str, str, str, str], list[Shift]] = {}
        # each group's latest shift per canvasser
        self._members: dict[GroupKey, dict[str, Shift]] = {}
        self.watermark = 0.0  # the latest contact time seen: a flag's time
        # shifts with contacts not judged yet, and groups due a peer review (ordered sets)
        self._grown: dict[str, Shift] = {}
        self._review: dict[GroupKey, None] = {}
        self._reviewed: dict[GroupKey, int] = {}  # a group's size at its last peer review

    def _new_shift(self, key: str, o: Obs, pol: QualityPolicy) -> Shift:
        day = local_day(o.occurred_at, pol.timezone)
        shift = Shift(key, o.canvasser_id, (o.org_id, o.campaign_id, o.channel, day))
        self.shifts[key] = shift
        self._members.setdefault(shift.group, {})[o.canvasser_id] = shift
        return shift

    def _shift_for(self, o: Obs, pol: QualityPolicy) -> Shift:
        if o.shift_id:
            key = f"{o.org_id}/{o.campaign_id}/{o.canvasser_id}/{o.shift_id}"
            return self.shifts.get(key) or self._new_shift(key, o, pol)
        runs = self._runs.setdefault((o.org_id, o.campaign_id, o.channel, o.canvasser_id), [])
        gap = pol.shift_gap_min * 60
        for shift in reversed(runs):
            if shift.first - gap <= o.occurred_at <= shift.last + gap:
                return shift
        start = dt.datetime.fromtimestamp(o.occurred_at, dt.UTC).strftime("%Y%m%dT%H%M%S")
        shift = self._new_shift(
            f"{o.org_id}/{o.campaign_id}/{o.canvasser_id}/{o.channel}@{start}", o, pol
        )
        runs.append(shift)
        return shift

    def observe(self, o: Obs) -> list[Flag]:
        """The flags one contact raised or grew: :meth:`add` it, then :meth:`judge`."""
        self.add(o)
        return self.judge()

    def add(self, o: Obs) -> bool:
        """Put a contact in its shift and peer group (False: seen before), and mark its shift
        for :meth:`judge`, and its group's other shifts when the group grew by
        peer_review_every contacts (or rejudge_share of its size) since its last peer review.
        Errors here belong to this contact."""
        pol = self.settings.policy_for(o.org_id, o.campaign_id)
        shift = self._shift_for(o, pol)
        if not shift.add(o):
            return False
        self.peers.add(shift.group, o)
        self.watermark = max(self.watermark, o.occurred_at)
        self._grown[shift.key] = shift
        size = self.peers.size(shift.group)
        reviewed = self._reviewed.get(shift.group, 0)
        if size - reviewed >= max(pol.peer_review_every, pol.rejudge_share * reviewed):
            self._reviewed[shift.group] = size
            self._review[shift.group] = None
        return True

    def unjudged(self) -> bool:
        """Some shift has contacts its checks have not seen yet."""
        return bool(self._grown)

    def judge(self, everything: bool = False) -> list[Flag]:
        """Judge the shifts grown since they were last judged by rejudge_share of their
        contacts (``everything``: every shift with a contact not judged yet), then the other
        shifts of the groups due a peer review: the flags they raised or grew.

        The agent calls this once a batch, and with ``everything`` when the stream goes quiet
        and at least every 10 s. Judging every shift after every contact re-ran every check of
        the shift and its peers per contact: most of a core at a thousand contacts a second."""
        grown = {k: s for k, s in self._grown.items() if everything or self._due(s)}
        for key in grown:
            del self._grown[key]
        review, self._review = self._review, {}
        flags = [self._judge(shift, self._policy(shift), self.watermark, grown=True) for shift
                 in grown.values()]  # fmt: skip
        for group in review:
            flags += [
                self._judge(other, self._policy(other), self.watermark)
                for other in self._members.get(group, {}).values()
                if other.key not in grown
            ]
        return [f for f in flags if f is not None]

    def _policy(self, shift: Shift) -> QualityPolicy:
        return self.settings.policy_for(shift.group[0], shift.group[1])

    def _due(self, shift: Shift) -> bool:
        grew = len(shift.contacts) - shift.judged
        return grew >= max(1.0, self._policy(shift).rejudge_share * shift.judged)

    def _judge(
        self, shift: Shift, pol: QualityPolicy, now: float, *, grown: bool = False
    ) -> Flag | None:
        """The shift's flag when it crosses the flag score or its evidence grows, or (``grown``:
        it has a new contact, so its own checks run again) when it was flagged before: its
        window and counts move on. A peer review (not grown) re-runs the peer checks only."""
        if len(shift.contacts) < pol.min_contacts:
            return None
        if grown:  # its own contacts changed: run its own checks again
            shift.own = shift_checks(shift.contacts, pol)
            shift.judged = len(shift.contacts)
        results = shift.own + self.peers.checks(
            shift.group, shift.canvasser_id, shift.group[2], pol
        )
        total = score(results)
        fired = frozenset(r.check for r in results if r.fired)
        if total >= pol.flag_score and not fired <= shift.evidence.keys():
            if not shift.evidence:
                shift.flagged_at = now
            shift.evidence.update((r.check, r) for r in results if r.fired)
        elif not (grown and shift.evidence):
            return None
        org, campaign, channel, _ = shift.group
        return Flag(
            flag_id=str(uuid.uuid5(FLAG_NAMESPACE, shift.key)),
            org_id=org,
            campaign_id=campaign,
            channel=channel,
            canvasser_id=shift.canvasser_id,
            shift_key=shift.key,
            first_contact_at=shift.first,
            last_contact_at=shift.last,
            flagged_at=shift.flagged_at,
            updated_at=now,
            contacts=len(shift.contacts),
            score=round(max(total, sum(r.weight for r in shift.evidence.values())), 2),
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
        day = dt.datetime.fromtimestamp(before, dt.UTC).date().isoformat()
        self.peers.drop_before(day)
        for group in [g for g in self._members if g[3] < day]:
            del self._members[group]
            self._reviewed.pop(group, None)
            self._review.pop(group, None)
        for gone in old:
            self._grown.pop(gone, None)
        return len(old)
