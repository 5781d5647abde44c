"""The checks against a canvasser's peers: the other canvassers of the same org, campaign,
channel and local day.

:class:`PeerBook` keeps running counts per canvasser (attempts, contacts, IDs, support levels,
results), updated as contacts arrive; :func:`peer_checks` compares one canvasser with the rest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams.quality.model import CheckResult, Obs
from streams.quality.policy import QualityPolicy
from streams.quality.stats import dispersion, peer_chi2, rate_z

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

    def add(self, key: GroupKey, o: Obs) -> None:
        self.groups.setdefault(key, {}).setdefault(o.canvasser_id, Tally()).add(o)
        self._size[key] = self._size.get(key, 0) + 1

    def size(self, key: GroupKey) -> int:
        """Contacts the group has seen."""
        return self._size.get(key, 0)

    def checks(
        self, key: GroupKey, canvasser: str, channel: str, pol: QualityPolicy
    ) -> list[CheckResult]:
        tallies = self.groups[key]
        size = self._size[key]
        stamp, phis = self._phis.get(key, (0, {}))
        if size > stamp * 1.1 or not phis:
            everyone = [t for t in tallies.values() if t.attempts >= pol.min_peer_contacts]
            phis = {
                "support_levels": dispersion(
                    [t.support for t in everyone], min_peer_n=pol.support_test_min
                ),
                "results": dispersion(
                    [t.results for t in everyone], min_peer_n=pol.result_test_min
                ),
            }
            self._phis[key] = (size, phis)
        return peer_checks(tallies, canvasser, channel, pol, phis)

    def drop_before(self, day: str) -> None:
        """Forget groups of days before ``day`` (ISO date)."""
        for key in [k for k in self.groups if k[3] < day]:
            del self.groups[key]
            self._size.pop(key, None)
            self._phis.pop(key, None)


def _rate_check(
    name: str,
    k: int,
    n: int,
    peers: list[tuple[int, int]],
    pol: QualityPolicy,
    min_n: int | None = None,
) -> CheckResult | None:
    peers = [(kj, nj) for kj, nj in peers if nj > 0]
    if n < (min_n or pol.rate_test_min) or len(peers) < pol.min_peers:
        return None
    z, p0, tau2 = rate_z(k, n, peers, pol.min_peer_sd)
    return CheckResult(
        name,
        z >= pol.rate_z,
        round(z, 2),
        pol.rate_z,
        detail={
            "rate": round(k / n, 3),
            "of": n,
            "peers_rate": round(p0, 3),
            "peers": len(peers),
            "peers_sd": round(tau2**0.5, 3),
        },
    )


def _dist_check(
    name: str,
    own: Counter[str],
    peers: list[Counter[str]],
    minimum: int,
    weight: float,
    pol: QualityPolicy,
    phi: float | None,
) -> CheckResult | None:
    if sum(own.values()) < minimum or len(peers) < pol.min_peers:
        return None
    stat, df, phi, p, distance = peer_chi2(own, peers, min_peer_n=minimum, phi=phi)
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


def peer_checks(
    tallies: dict[str, Tally],
    canvasser: str,
    channel: str,
    pol: QualityPolicy,
    phis: dict[str, float] | None = None,
) -> list[CheckResult]:
    """Contact rate, ID rate, support levels and results of ``canvasser`` against the rest
    of the group (peers with at least min_peer_contacts attempts). Rates are judged on the high
    side only: invented conversations raise them; a low rate is a coaching question.
    ``phis``: the group's dispersion factors by check, when already known."""
    phis = phis or {}
    me = tallies.get(canvasser)
    if me is None:
        return []
    peers = [
        t for c, t in tallies.items() if c != canvasser and t.attempts >= pol.min_peer_contacts
    ]
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
    out.append(
        _rate_check(
            "contact_rate", me.contacts, me.attempts, [(t.contacts, t.attempts) for t in peers], pol
        )
    )
    out.append(
        _rate_check("id_rate", me.ids, me.contacts, [(t.ids, t.contacts) for t in peers], pol)
    )
    out.append(
        _dist_check(
            "support_levels",
            me.support,
            [t.support for t in peers],
            pol.support_test_min,
            1.0,
            pol,
            phis.get("support_levels"),
        )
    )
    out.append(
        _dist_check(
            "results",
            me.results,
            [t.results for t in peers],
            pol.result_test_min,
            pol.result_dist_weight,
            pol,
            phis.get("results"),
        )
    )
    return [r for r in out if r is not None]
