"""BISG for the voters no source gave race or ethnicity, a batch at a time, at load time.

Why here: BISG needs surname and zip, which are personal data the Voter record does not carry;
computing it while the loader holds the row keeps them off the topic, and doing it once per
load (in batches, never per row or per event) keeps the stream's enrichment a lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from producers.voterfile.mapping import BisgColumns

SOURCE = "bisg"


class Estimate(Protocol):
    """producers.bisg.BisgResult's shape (read-only, as that dataclass is frozen)."""

    @property
    def race(self) -> str: ...
    @property
    def race_probability(self) -> float: ...
    @property
    def ethnicity(self) -> str: ...
    @property
    def ethnicity_probability(self) -> float: ...


class Predictor(Protocol):
    """producers.bisg.Bisg's shape: one estimate (or None) per (surname, zip), in order."""

    def predict(
        self, surnames: Sequence[str], zips: Sequence[str]
    ) -> Sequence[Estimate | None]: ...


def needs_bisg(rec: dict[str, Any]) -> bool:
    return rec["race"] == "unknown" or rec["ethnicity"] == "unknown"


def fill(
    pending: list[tuple[dict[str, Any], dict[str, str]]],
    columns: BisgColumns,
    predictor: Predictor,
) -> int:
    """Fill race/ethnicity left unknown in each (record, raw row); returns records changed.

    A value any source gave is kept: BISG only fills what is still unknown, and records
    ``bisg`` as the source beside its value and probability.
    """
    if not pending:
        return 0
    surnames = [(raw.get(columns.surname) or "").strip() for _, raw in pending]
    zips = [(raw.get(columns.zip) or "").strip() for _, raw in pending]
    changed = 0
    for (rec, _), est in zip(pending, predictor.predict(surnames, zips), strict=True):
        if est is None:
            continue
        if rec["race"] == "unknown":
            rec["race"], rec["race_source"] = est.race, SOURCE
            rec["race_probability"] = est.race_probability
        if rec["ethnicity"] == "unknown":
            rec["ethnicity"], rec["ethnicity_source"] = est.ethnicity, SOURCE
            rec["ethnicity_probability"] = est.ethnicity_probability
        changed += 1
    return changed
