"""The checks on one shift's own contacts: pace, times, place and call length.

Each check is a plain function of the shift's contacts (sorted by time) and the campaign's
policy. It returns None when it does not apply (too few contacts, no location, another
channel), else a :class:`CheckResult` with its figure, threshold and the numbers behind it.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import cast

from streams.quality.model import CheckResult, Obs
from streams.quality.policy import QualityPolicy
from streams.quality.stats import distance_m


def _usable(o: Obs, pol: QualityPolicy) -> bool:
    """A location the place checks can use: present and accurate enough (a missing accuracy
    is taken as exact)."""
    return o.located and (o.accuracy_m is None or o.accuracy_m <= pol.max_accuracy_m)


def _fix(o: Obs) -> tuple[float, float]:
    return cast(float, o.lat), cast(float, o.lon)


def _home(o: Obs) -> tuple[float, float]:
    return cast(float, o.voter_lat), cast(float, o.voter_lon)


def _acc(o: Obs) -> float:
    return o.accuracy_m or 0.0


def _building(doors: Sequence[Obs], pol: QualityPolicy) -> bool | None:
    """Whether most consecutive doors are in one building: the voters' addresses within
    same_building_m of each other or, with no addresses, the canvasser's own fixes within
    same_building_m beyond their accuracies. None when neither is known for 3 pairs."""
    pairs = list(itertools.pairwise(doors))
    by_address = [
        distance_m(a.voter_lat, a.voter_lon, b.voter_lat, b.voter_lon)
        for a, b in pairs
        if a.voter_place == b.voter_place == "address"
    ]
    if len(by_address) >= 3:
        return sum(d <= pol.same_building_m for d in by_address) / len(by_address) >= 0.6
    by_fix = [
        distance_m(a.lat, a.lon, b.lat, b.lon) - _acc(a) - _acc(b)
        for a, b in pairs
        if _usable(a, pol) and _usable(b, pol)
    ]
    if len(by_fix) >= 3:
        return sum(d <= pol.same_building_m for d in by_fix) / len(by_fix) >= 0.6
    return None


def check_pace(shift: Sequence[Obs], pol: QualityPolicy) -> list[CheckResult]:
    """Doors per hour over the shift so far, and the median time between consecutive doors.
    In a building (see :func:`_building`) the limits are widened by multi_unit_rate_factor;
    where nothing tells, by unknown_place_rate_factor."""
    doors = [o for o in shift if o.channel == "door" and o.timed_live]
    if len(doors) < pol.rate_min_contacts:
        return []
    building = _building(doors, pol)
    factor = {True: pol.multi_unit_rate_factor, False: 1.0, None: pol.unknown_place_rate_factor}[
        building
    ]
    out = []
    span_s = doors[-1].occurred_at - doors[0].occurred_at
    if span_s >= pol.rate_min_span_min * 60:
        rate = (len(doors) - 1) / span_s * 3600
        limit = pol.max_doors_per_hour * factor
        out.append(
            CheckResult(
                "doors_per_hour",
                rate > limit,
                round(rate, 1),
                limit,
                detail={
                    "doors": len(doors),
                    "span_min": round(span_s / 60, 1),
                    "building": {True: "yes", False: "no", None: "unknown"}[building],
                },
            )
        )
    gaps = [b.occurred_at - a.occurred_at for a, b in itertools.pairwise(doors)]
    median = statistics.median(gaps)
    limit = pol.min_median_gap_s / factor
    out.append(
        CheckResult(
            "door_gap",
            median < limit,
            round(median, 1),
            limit,
            detail={"gaps": len(gaps), "shortest_s": round(min(gaps), 1)},
        )
    )
    return out


def check_same_time(shift: Sequence[Obs], pol: QualityPolicy) -> CheckResult | None:
    """Consecutive doors or calls at the same time (within same_time_s): copy-pasted or
    back-filled times. Texts (sent in batches), paper and bulk entries and date-only times
    are left out."""
    timed = [o for o in shift if o.channel != "text" and o.timed_live]
    if len(timed) < pol.min_contacts:
        return None
    pairs = len(timed) - 1
    same = sum(
        b.occurred_at - a.occurred_at <= pol.same_time_s for a, b in itertools.pairwise(timed)
    )
    share = same / pairs
    fired = same >= pol.same_time_min_pairs and share >= pol.same_time_min_share
    return CheckResult(
        "same_time",
        fired,
        round(share, 3),
        pol.same_time_min_share,
        detail={"same_pairs": same, "pairs": pairs, "within_s": pol.same_time_s},
    )


def check_far_from_voter(shift: Sequence[Obs], pol: QualityPolicy) -> CheckResult | None:
    """Doors recorded far from the voter's address (or precinct centroid): beyond
    far_from_address_m (far_from_precinct_m) after subtracting the location's accuracy."""
    judged = far = 0
    worst = 0.0
    for o in shift:
        if o.channel != "door" or not _usable(o, pol) or not o.voter_located:
            continue
        d = distance_m(o.lat, o.lon, o.voter_lat, o.voter_lon) - _acc(o)
        limit = pol.far_from_address_m if o.voter_place == "address" else pol.far_from_precinct_m
        judged += 1
        if d > limit:
            far += 1
            worst = max(worst, d)
    if judged < pol.min_contacts:
        return None
    share = far / judged
    return CheckResult(
        "far_from_voter",
        far >= pol.far_min and share >= pol.far_min_share,
        round(share, 3),
        pol.far_min_share,
        detail={"far": far, "judged": judged, "worst_m": round(worst)},
    )


def _median_point(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in points), statistics.median(p[1] for p in points)


def _spread_m(points: Sequence[tuple[float, float]]) -> float:
    """The 80th percentile of the points' distances to their median point."""
    lat, lon = _median_point(points)
    dists = sorted(distance_m(lat, lon, a, b) for a, b in points)
    return dists[int(0.8 * (len(dists) - 1))]


def check_one_spot(shift: Sequence[Obs], pol: QualityPolicy) -> CheckResult | None:
    """Many doors recorded from one spot over a long time while the voters live apart
    (curbstoning from a car or a cafe). Voters in one building (an apartment block) clear it;
    with no voter addresses known it counts at one_spot_unknown_weight."""
    doors = [o for o in shift if o.channel == "door" and _usable(o, pol)]
    if len(doors) < pol.one_spot_min:
        return None
    span_s = doors[-1].occurred_at - doors[0].occurred_at
    if span_s < pol.one_spot_min_span_min * 60:
        return None
    lat, lon = _median_point([_fix(o) for o in doors])
    near = sum(distance_m(lat, lon, o.lat, o.lon) <= pol.one_spot_m for o in doors)
    share = near / len(doors)
    voters = [_home(o) for o in doors if o.voter_place == "address"]
    spread = _spread_m(voters) if len(voters) >= 5 else None
    one_spot = share >= pol.one_spot_share
    detail: dict[str, float | int | str] = {"doors": len(doors), "span_min": round(span_s / 60)}
    if spread is None:
        detail["voter_spread_m"] = "unknown"
        return CheckResult(
            "one_spot",
            one_spot,
            round(share, 3),
            pol.one_spot_share,
            pol.one_spot_unknown_weight,
            detail,
        )
    detail["voter_spread_m"] = round(spread)
    return CheckResult(
        "one_spot",
        one_spot and spread > pol.one_spot_voter_spread_m,
        round(share, 3),
        pol.one_spot_share,
        detail=detail,
    )


def check_travel(shift: Sequence[Obs], pol: QualityPolicy) -> CheckResult | None:
    """Impossible travel between consecutive located contacts: more than travel_min_m beyond
    both accuracies, faster than max_speed_mps. A single point that jumps away and back is a
    GPS glitch and is dropped first."""
    pts = [o for o in shift if o.timed_live and _usable(o, pol)]
    if len(pts) < pol.min_contacts:
        return None

    def gap(a: Obs, b: Obs) -> float:
        return distance_m(a.lat, a.lon, b.lat, b.lon) - _acc(a) - _acc(b)

    kept = [pts[0]]
    for i in range(1, len(pts)):
        nxt = pts[i + 1] if i + 1 < len(pts) else None
        glitch = (
            nxt is not None
            and gap(kept[-1], pts[i]) > pol.travel_min_m
            and gap(pts[i], nxt) > pol.travel_min_m
            and gap(kept[-1], nxt) <= pol.travel_min_m
        )
        if not glitch:
            kept.append(pts[i])
    jumps = 0
    fastest = 0.0
    for a, b in itertools.pairwise(kept):
        d = gap(a, b)
        if d < pol.travel_min_m:
            continue
        speed = d / max(b.occurred_at - a.occurred_at, 1.0)
        fastest = max(fastest, speed)
        jumps += speed > pol.max_speed_mps
    return CheckResult(
        "impossible_travel",
        jumps >= pol.travel_min_jumps,
        round(fastest, 1),
        pol.max_speed_mps,
        detail={"jumps": jumps, "glitches_dropped": len(pts) - len(kept)},
    )


def check_short_calls(shift: Sequence[Obs], pol: QualityPolicy) -> CheckResult | None:
    """Calls recorded as conversations (a contact, or answers) that lasted less than
    min_conversation_s. Calls that reached a machine are not conversations and never count."""
    calls = [
        o
        for o in shift
        if o.channel == "phone"
        and o.call_duration_s is not None
        and o.reached != "machine"
        and (o.is_contact or o.has_responses)
    ]
    if len(calls) < pol.short_calls_min:
        return None
    short = sum((o.call_duration_s or 0.0) < pol.min_conversation_s for o in calls)
    share = short / len(calls)
    return CheckResult(
        "short_calls",
        short >= pol.short_calls_min and share >= pol.short_calls_share,
        round(share, 3),
        pol.short_calls_share,
        detail={
            "short": short,
            "conversations": len(calls),
            "median_s": round(statistics.median(o.call_duration_s or 0.0 for o in calls), 1),
        },
    )


def shift_checks(shift: Sequence[Obs], pol: QualityPolicy) -> list[CheckResult]:
    """Every own-contacts check that applies to the shift."""
    out = check_pace(shift, pol)
    for check in (
        check_same_time,
        check_far_from_voter,
        check_one_spot,
        check_travel,
        check_short_calls,
    ):
        result = check(shift, pol)
        if result is not None:
            out.append(result)
    return out
