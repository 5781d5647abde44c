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


def _minus(total: Mapping[str, int], part: Mapping[str, int]) -> dict[str, int]:
    return {c: v - part.get(c, 0) for c, v in total.items()}


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
    pooled: dict[str, int] = {}
    for p in peers:
        for c, v in p.items():
            pooled[c] = pooled.get(c, 0) + v
    stat, df = _chi2_stat(counts, pooled)
    if df == 0:
        return 0.0, 0, 1.0, 1.0, 0.0
    if phi is None:
        phi = dispersion(peers, min_peer_n=min_peer_n)
    return stat, df, phi, float(chdtrc(df, stat / phi)), tvd(counts, pooled)


def dispersion(peers: Sequence[Mapping[str, int]], *, min_peer_n: int = 1) -> float:
    """The peers' own spread: the median over peers with ``min_peer_n`` counts of their
    chi-square per degree of freedom against the rest of the peers; never below 1."""
    pooled: dict[str, int] = {}
    for p in peers:
        for c, v in p.items():
            pooled[c] = pooled.get(c, 0) + v
    own = []
    for p in peers:
        if sum(p.values()) >= min_peer_n:
            s, d = _chi2_stat(p, _minus(pooled, p))
            if d:
                own.append(s / d)
    return max(1.0, statistics.median(own)) if len(own) >= 2 else 1.0
