"""The checks against a canvasser's peers: the other canvassers of the same org, campaign,
channel and local day.

:class:`PeerBook` keeps running counts per canvasser (attempts, contacts, IDs, support levels,
results), updated as contacts arrive; :class:`PeerView` pools a group once and compares each
canvasser with the rest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams.quality.model import CheckResult, Obs
from streams.quality.policy import QualityPolicy
from streams.quality.stats import RatePool, dispersion, pool, pooled_chi2, without

GroupKey = tuple[str, str, str, str]  # org, campaign, channel, local day (ISO date)
# results too rare to test one by one are pooled
_RESULT_KEEP = frozenset({"canvassed", "not_home", "refused", "texted", "left_message"})


@dataclass
class Tally:
    """One canvasser's counts for one group."""

    attempts: int = 0
    contacts: int = 0
    ids: int = 0
    support: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)

    def add(self, o: Obs) -> None:
        self.attempts += 1
        self.contacts += o.is_contact
        if o.is_contact and o.has_id:
            self.ids += 1
            self.support[str(o.support_level)] += 1
        self.results[o.result if o.result in _RESULT_KEEP else "other"] += 1


class PeerBook:
    """Running tallies per group and canvasser, and each group's dispersion factors (recomputed
    when the group has grown by a tenth since: they move slowly, and cost a pass over the
    peers)."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, dict[str, Tally]] = {}
        self._size: dict[GroupKey, int] = {}
        self._phis: dict[GroupKey, tuple[int, dict[str, float]]] = {}
        # each group's view as of its size (a judgement asks for many canvassers in a row)
        self._views: dict[GroupKey, tuple[int, int, PeerView]] = {}

    def add(self, key: GroupKey, o: Obs) -> None:
        self.groups.setdefault(key, {}).setdefault(o.canvasser_id, Tally()).add(o)
        self._size[key] = self._size.get(key, 0) + 1

    def size(self, key: GroupKey) -> int:
        """Contacts the group has seen."""
        return self._size.get(key, 0)

    def checks(
        self, key: GroupKey, canvasser: str, channel: str, pol: QualityPolicy
    ) -> list[CheckResult]:
        size = self._size[key]
        view = self.view(key, pol.min_peer_contacts)
        stamp, phis = self._phis.get(key, (0, {}))
        if size > stamp * 1.1 or not phis:
            everyone = list(view.eligible.values())
            phis = {
                "support_levels": dispersion(
                    [t.support for t in everyone], min_peer_n=pol.support_test_min
                ),
                "results": dispersion(
                    [t.results for t in everyone], min_peer_n=pol.result_test_min
                ),
            }
            self._phis[key] = (size, phis)
        return view.checks(canvasser, channel, pol, phis)

    def view(self, key: GroupKey, min_peer_contacts: int) -> PeerView:
        """The group's :class:`PeerView` as it is now (made again once a contact was added)."""
        size = self._size[key]
        made = self._views.get(key)
        if made is None or made[:2] != (size, min_peer_contacts):
            made = (size, min_peer_contacts, PeerView(self.groups[key], min_peer_contacts))
            self._views[key] = made
        return made[2]

    def drop_before(self, day: str) -> None:
        """Forget groups of days before ``day`` (ISO date)."""
        for key in [k for k in self.groups if k[3] < day]:
            del self.groups[key]
            self._size.pop(key, None)
            self._phis.pop(key, None)
            self._views.pop(key, None)


def _rate_check(
    name: str,
    k: int,
    n: int,
    rates: RatePool,
    own: tuple[int, int] | None,
    pol: QualityPolicy,
    min_n: int | None = None,
) -> CheckResult | None:
    """``k`` of ``n`` against the pool less ``own`` (the canvasser's pair when it is in it)."""
    peers = rates.others(own)
    if n < (min_n or pol.rate_test_min) or peers < max(1, pol.min_peers):
        return None
    z, p0, tau2 = rates.rate_z(k, n, own, pol.min_peer_sd)
    return CheckResult(
        name,
        z >= pol.rate_z,
        round(z, 2),
        pol.rate_z,
        detail={
            "rate": round(k / n, 3),
            "of": n,
            "peers_rate": round(p0, 3),
            "peers": peers,
            "peers_sd": round(tau2**0.5, 3),
        },
    )


def _dist_check(
    name: str,
    own: Counter[str],
    pooled: dict[str, int],
    peers: list[Counter[str]] | None,
    minimum: int,
    weight: float,
    pol: QualityPolicy,
    phi: float | None,
) -> CheckResult | None:
    """``own`` against the peers already ``pooled`` (the caller saw to there being
    ``min_peers`` of them); ``peers`` themselves are read only when their dispersion ``phi``
    is not known yet."""
    if sum(own.values()) < minimum:
        return None
    if phi is None:
        phi = dispersion(peers or [], min_peer_n=minimum)
    stat, df, phi, p, distance = pooled_chi2(own, pooled, phi)
    if df == 0:
        return None
    top, top_n = own.most_common(1)[0]
    return CheckResult(
        name,
        p < pol.dist_alpha and distance >= pol.dist_min_tvd,
        p,
        pol.dist_alpha,
        weight,
        {
            "chi2": round(stat, 1),
            "df": df,
            "tvd": round(distance, 3),
            "phi": round(phi, 2),
            "n": sum(own.values()),
            "most_common": top,
            "most_common_share": round(top_n / sum(own.values()), 3),
        },
    )


class PeerView:
    """One group's peers as a judgement sees them (the canvassers with ``min_peer_contacts``
    attempts), pooled once: each canvasser's checks against the rest then cost a few look-ups
    and a subtraction instead of a pass over the group (stats.RatePool), so judging a whole
    group is O(G log G), not O(G^2 log G). A view is of the tallies as they were when it was
    made."""

    def __init__(self, tallies: dict[str, Tally], min_peer_contacts: int) -> None:
        self.tallies = tallies
        self.eligible = {c: t for c, t in tallies.items() if t.attempts >= min_peer_contacts}
        everyone = list(self.eligible.values())
        self.contact_rates = RatePool([(t.contacts, t.attempts) for t in everyone])
        self.id_rates = RatePool([(t.ids, t.contacts) for t in everyone])
        # each distribution a Tally counts (support levels, results), pooled
        self.pooled = {
            name: pool([getattr(t, name) for t in everyone]) for name in ("support", "results")
        }

    def checks(
        self,
        canvasser: str,
        channel: str,
        pol: QualityPolicy,
        phis: dict[str, float] | None = None,
    ) -> list[CheckResult]:
        """Contact rate, ID rate, support levels and results of ``canvasser`` against the
        rest of the group. Rates are judged on the high side only: invented conversations
        raise them; a low rate is a coaching question. ``phis``: the group's dispersion
        factors by check, when already known."""
        phis = phis or {}
        me = self.tallies.get(canvasser)
        if me is None:
            return []
        mine = canvasser in self.eligible
        out: list[CheckResult | None] = []
        if channel == "door" and me.attempts >= pol.high_rate_min:
            rate = me.contacts / me.attempts
            out.append(
                CheckResult(
                    "contact_rate_high",
                    rate > pol.max_contact_rate,
                    round(rate, 3),
                    pol.max_contact_rate,
                    detail={"of": me.attempts},
                )
            )
        own_contacts = (me.contacts, me.attempts) if mine else None
        out.append(
            _rate_check(
                "contact_rate", me.contacts, me.attempts, self.contact_rates, own_contacts, pol
            )
        )
        own_ids = (me.ids, me.contacts) if mine else None
        out.append(_rate_check("id_rate", me.ids, me.contacts, self.id_rates, own_ids, pol))
        count = len(self.eligible) - mine
        for name, counts, minimum, weight in (
            ("support_levels", "support", pol.support_test_min, 1.0),
            ("results", "results", pol.result_test_min, pol.result_dist_weight),
        ):
            if count < pol.min_peers:
                continue
            own, pooled, phi = getattr(me, counts), self.pooled[counts], phis.get(name)
            out.append(
                _dist_check(
                    name,
                    own,
                    without(pooled, own) if mine else pooled,
                    None if phi is not None else self._others(canvasser, counts),
                    minimum,
                    weight,
                    pol,
                    phi,
                )
            )
        return [r for r in out if r is not None]

    def _others(self, canvasser: str, counts: str) -> list[Counter[str]]:
        """The others' ``counts`` (a Tally field), for a dispersion not known yet: a pass over
        the group, so only then."""
        return [getattr(t, counts) for c, t in self.eligible.items() if c != canvasser]


def peer_checks(
    tallies: dict[str, Tally],
    canvasser: str,
    channel: str,
    pol: QualityPolicy,
    phis: dict[str, float] | None = None,
) -> list[CheckResult]:
    """:meth:`PeerView.checks` of one canvasser (a view of the group made for it alone)."""
    return PeerView(tallies, pol.min_peer_contacts).checks(canvasser, channel, pol, phis)
