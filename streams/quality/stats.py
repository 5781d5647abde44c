"""The two statistical tests of the peer checks, and the distance on the globe.

Honest canvassers differ: turfs, hours and lists give different contact rates and support
levels. A plain binomial or chi-square test against the peers' pooled counts treats that spread
as fraud and flags honest people on big shifts. Both tests here widen the null by the spread the
peers themselves show:

- :func:`rate_z`: a random-effects z score. The between-canvasser variance ``tau2`` of the
  peers' rates is estimated robustly (median absolute deviation, less the binomial part: a
  share of the peers may be cheating too) and added to the canvasser's own binomial variance.
- :func:`peer_chi2`: a chi-square test of homogeneity (canvasser against pooled peers) whose
  statistic is divided by a dispersion factor ``phi``: the median over peers of their own
  statistic per degree of freedom against the rest (quasi-likelihood; never below 1).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Mapping, Sequence
from functools import lru_cache

from scipy.special import chdtrc

EARTH_M = 6_371_008.8


@lru_cache(maxsize=1 << 16)
def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres on the equirectangular projection at the mean latitude: within 0.1%
    of the great circle below 50 km (turf scale) and about 3x cheaper than haversine; far
    points come out larger than they are (still far). Memoized: the checks ask for the same
    pairs again as a shift grows."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return EARTH_M * math.hypot(x, y)


def rate_z(
    k: int, n: int, peers: Sequence[tuple[int, int]], min_sd: float = 0.0
) -> tuple[float, float, float]:
    """(z, the peers' typical rate, tau2) for a canvasser with ``k`` of ``n`` against peers'
    ``(k_j, n_j)`` (``n`` and every ``n_j`` positive).

    Robust, because the peers may include cheaters too: the typical rate is the median of the
    peers' rates, their spread 1.4826 times the median absolute deviation, less the binomial
    variance their counts alone would give; ``tau2`` is never below ``min_sd`` squared (a few
    peers on small counts can show no spread by chance)."""
    rates = sorted(kj / nj for kj, nj in peers)
    p0 = _median(rates)
    total_n = sum(nj for _, nj in peers)
    p0 = min(max(p0, 0.5 / total_n), 1 - 0.5 / total_n)
    mad = 1.4826 * _median(sorted(abs(r - p0) for r in rates))
    binomial = sum(p0 * (1 - p0) / nj for _, nj in peers) / len(peers)
    tau2 = max(min_sd**2, mad**2 - binomial)
    z = (k / n - p0) / math.sqrt(p0 * (1 - p0) / n + tau2)
    return z, p0, tau2


def _median(xs: Sequence[float]) -> float:
    """Median of sorted ``xs``."""
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def _median_without(xs: Sequence[float], value: float | None) -> float:
    """Median of sorted ``xs`` with one occurrence of ``value`` (one of them) taken out, or
    of all of ``xs`` when ``value`` is None: by index, without a copy."""
    if value is None:
        return _median(xs)
    gone = bisect.bisect_left(xs, value)
    size = len(xs) - 1

    def at(j: int) -> float:
        return xs[j] if j < gone else xs[j + 1]

    mid = size // 2
    return at(mid) if size % 2 else (at(mid - 1) + at(mid)) / 2


class RatePool:
    """Every peer's ``(k, n)`` of one group at once, so that :func:`rate_z` of each of them
    against all the others costs a few look-ups instead of a sort of the others: the median and
    the median absolute deviation of all but one come from the sorted whole by index. A judge
    of a group of G canvassers costs O(G log G) instead of O(G^2 log G).

    Its z scores are :func:`rate_z`'s (the medians exactly; the binomial term's sum is taken
    over all then less the one, so it may differ in the last bits)."""

    def __init__(self, pairs: Sequence[tuple[int, int]]) -> None:
        self.pairs = [(k, n) for k, n in pairs if n > 0]
        self.rates = sorted(k / n for k, n in self.pairs)
        self.total_n = sum(n for _, n in self.pairs)
        self.inverse_n = sum(1 / n for _, n in self.pairs)
        self._deviations: dict[float, list[float]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def others(self, own: tuple[int, int] | None) -> int:
        """How many peers there are without ``own`` (a pair of the pool, or None)."""
        return len(self.pairs) - (own is not None and own[1] > 0)

    def rate_z(
        self, k: int, n: int, own: tuple[int, int] | None, min_sd: float = 0.0
    ) -> tuple[float, float, float]:
        """:func:`rate_z` of ``k`` of ``n`` against the pool less ``own`` (the canvasser's
        own pair when it is one of the pool, else None); at least one peer must remain."""
        mine = own[0] / own[1] if own is not None and own[1] > 0 else None
        count = len(self.pairs) - (mine is not None)
        total_n = self.total_n - (own[1] if mine is not None and own is not None else 0)
        p0 = _median_without(self.rates, mine)
        p0 = min(max(p0, 0.5 / total_n), 1 - 0.5 / total_n)
        deviations = self._deviations.get(p0)
        if deviations is None:
            deviations = sorted(abs(r - p0) for r in self.rates)
            self._deviations[p0] = deviations
        gone = abs(mine - p0) if mine is not None else None
        mad = 1.4826 * _median_without(deviations, gone)
        inverse = self.inverse_n - (1 / own[1] if mine is not None and own is not None else 0)
        binomial = p0 * (1 - p0) * inverse / count
        tau2 = max(min_sd**2, mad**2 - binomial)
        z = (k / n - p0) / math.sqrt(p0 * (1 - p0) / n + tau2)
        return z, p0, tau2


def _chi2_stat(row: Mapping[str, int], rest: Mapping[str, int]) -> tuple[float, int]:
    cats = [c for c in set(row) | set(rest) if row.get(c, 0) + rest.get(c, 0) > 0]
    n_row, n_rest = sum(row.values()), sum(rest.values())
    total = n_row + n_rest
    if len(cats) < 2 or n_row == 0 or n_rest == 0:
        return 0.0, 0
    stat = 0.0
    for c in cats:
        col = row.get(c, 0) + rest.get(c, 0)
        for observed, n in ((row.get(c, 0), n_row), (rest.get(c, 0), n_rest)):
            expected = n * col / total
            stat += (observed - expected) ** 2 / expected
    return stat, len(cats) - 1


def tvd(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Total variation distance between two count distributions (0 same, 1 disjoint)."""
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(c, 0) / na - b.get(c, 0) / nb) for c in set(a) | set(b))


def peer_chi2(
    counts: Mapping[str, int],
    peers: Sequence[Mapping[str, int]],
    *,
    min_peer_n: int = 1,
    phi: float | None = None,
) -> tuple[float, int, float, float, float]:
    """(statistic, degrees of freedom, dispersion phi, p-value, tvd) of ``counts`` against the
    pooled ``peers``; the p-value is of statistic/phi on a chi-square with df, tvd the effect
    size (:func:`tvd` of counts and pooled peers). A ``phi`` passed in (see
    :func:`dispersion`) is used instead of computing it."""
    pooled = pool(peers)
    if phi is None:
        differ = _chi2_stat(counts, pooled)[1] > 0
        phi = dispersion(peers, min_peer_n=min_peer_n) if differ else 1.0
    return pooled_chi2(counts, pooled, phi)


def pool(counts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """The counts added up, category by category."""
    pooled: dict[str, int] = {}
    for p in counts:
        for c, v in p.items():
            pooled[c] = pooled.get(c, 0) + v
    return pooled


def without(pooled: Mapping[str, int], part: Mapping[str, int]) -> dict[str, int]:
    """``pooled`` less ``part`` (one of the counts it adds up), without the categories that
    leaves at 0: what :func:`pool` of the others gives."""
    out = {c: v - part.get(c, 0) for c, v in pooled.items()}
    return {c: v for c, v in out.items() if v}


def pooled_chi2(
    counts: Mapping[str, int], pooled: Mapping[str, int], phi: float
) -> tuple[float, int, float, float, float]:
    """:func:`peer_chi2` against peers already pooled, with their dispersion ``phi``."""
    stat, df = _chi2_stat(counts, pooled)
    if df == 0:
        return 0.0, 0, 1.0, 1.0, 0.0
    return stat, df, phi, float(chdtrc(df, stat / phi)), tvd(counts, pooled)


def dispersion(peers: Sequence[Mapping[str, int]], *, min_peer_n: int = 1) -> float:
    """The peers' own spread: the median over peers with ``min_peer_n`` counts of their
    chi-square per degree of freedom against the rest of the peers; never below 1."""
    pooled = pool(peers)
    own = []
    for p in peers:
        if sum(p.values()) >= min_peer_n:
            s, d = _chi2_stat(p, without(pooled, p))
            if d:
                own.append(s / d)
    return max(1.0, statistics.median(own)) if len(own) >= 2 else 1.0
