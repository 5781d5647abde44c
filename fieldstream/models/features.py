"""The features a model sees and the labels it learns, as SQL on the store and as DataFrames.

Features are the voter file's attributes and geography (the voters table), plus, for the turnout
model, the voter's own history before the date the model predicts for (vote_history_current).
Labels:

- **support**: the latest support ID each voter gave the org (contact_events; 1-2 on the
  standard's 1 strong support .. 5 strong oppose scale is a supporter, 3-5 is not);
- **turnout**: whether the voter voted in a past election (vote_history_current), with history
  features counted only from elections before it, so the model never sees its own answer.

Categorical columns become pandas ``category`` columns (what the estimator reads natively); a
column with more values than the estimator can split on keeps its most frequent ones and files
the rest under ``other``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.errors import InputError
from sinks.sql import string_literal

CATEGORICAL = (
    "sex", "race", "race_source", "ethnicity", "ethnicity_source", "county", "precinct",
    "congressional_district", "state_senate_district", "state_house_district",
)  # fmt: skip
NUMERIC = ("age", "precinct_lat", "precinct_lon")
HISTORY = ("elections_voted", "voted_previous")
MAX_CATEGORIES = 250  # HistGradientBoosting splits on at most 255 bins, missing values included
SUPPORT_MAX_LEVEL = 2
KEY = ("state", "voter_id")


def feature_names(model: str, without: Sequence[str] = ()) -> list[str]:
    """The model's feature columns, less ``without``; InputError for a name it does not have."""
    names = [*CATEGORICAL, *NUMERIC, *(HISTORY if model == "turnout" else ())]
    unknown = sorted(set(without) - set(names))
    if unknown:
        raise InputError(f"--without: {', '.join(unknown)} is not a feature; features: {names}")
    return [n for n in names if n not in without]


def voter_select(where: str = "1") -> str:
    """SELECT of every voter's key and attribute features (age from the birth year if need be)."""
    cats = ", ".join(f"toString({c}) AS {c}" for c in CATEGORICAL)
    return (
        f"SELECT state, voter_id, {cats}, "
        "toFloat64(coalesce(age, toYear(today()) - birth_year)) AS age, "
        "precinct_lat, precinct_lon "
        f"FROM voters FINAL WHERE {where}"
    )


def history_select(before: dt.date, where: str = "1") -> str:
    """Per voter: elections voted before ``before`` and whether they voted in the latest one
    of their state before it (the history features)."""
    day = f"toDate({string_literal(before.isoformat())})"
    return (
        "SELECT h.state AS state, h.voter_id AS voter_id, "
        "toFloat64(uniqExact(h.election_date)) AS elections_voted, "
        "toFloat64(max(h.election_date = p.previous)) AS voted_previous "
        "FROM vote_history_current AS h "
        "INNER JOIN (SELECT state, max(election_date) AS previous FROM vote_history_current "
        f"WHERE election_date < {day} GROUP BY state) AS p ON h.state = p.state "
        f"WHERE h.election_date < {day} AND {where} GROUP BY h.state, h.voter_id"
    )


def support_labels_select(org: str, campaign: str | None = None) -> str:
    """Each voter's latest support level from the org's (campaign's) contacts."""
    scope = f"org_id = {string_literal(org)}"
    if campaign:
        scope += f" AND campaign_id = {string_literal(campaign)}"
    return (
        "SELECT state, voter_id, "
        f"toUInt8(argMax(support_level, occurred_at) <= {SUPPORT_MAX_LEVEL}) AS label "
        f"FROM contact_events FINAL WHERE {scope} AND support_level IS NOT NULL "
        "AND voter_id != '' GROUP BY state, voter_id"
    )


def turnout_labels_select(election: dt.date, where: str = "1") -> str:
    """Every voter on file in a state with history for ``election``: voted in it or not."""
    day = f"toDate({string_literal(election.isoformat())})"
    return (
        "SELECT v.state AS state, v.voter_id AS voter_id, toUInt8(h.voter_id != '') AS label "
        "FROM (SELECT state, voter_id FROM voters FINAL WHERE state IN "
        f"(SELECT DISTINCT state FROM vote_history_current WHERE election_date = {day}) "
        f"AND {where}) AS v "
        "LEFT JOIN (SELECT DISTINCT state, voter_id FROM vote_history_current "
        f"WHERE election_date = {day}) AS h ON v.state = h.state AND v.voter_id = h.voter_id "
        "SETTINGS join_use_nulls = 0"
    )


def frame(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame of a query's result, keyed columns first."""
    return pd.DataFrame([list(r) for r in rows], columns=list(columns))


def prepare(data: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The feature columns as the estimator reads them: categories, floats, NaN for unknown."""
    out = pd.DataFrame(index=data.index)
    for name in features:
        if name in CATEGORICAL:
            values = data[name].fillna("").astype(str)
            if name == "precinct":  # precinct names repeat across counties
                values = data["county"].fillna("").astype(str) + " / " + values
            values = values.replace({"": "unknown", " / ": "unknown"})
            top = values.value_counts().index[:MAX_CATEGORIES]
            out[name] = values.where(values.isin(top), "other").astype("category")
        else:
            column = data[name] if name in data else pd.Series(0.0, index=data.index)
            out[name] = pd.to_numeric(column, errors="coerce").astype(float)
    return out


def align(data: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """``data`` with the categories the model was trained on (others become missing)."""
    out = data.copy()
    for name in reference.columns:
        if isinstance(reference[name].dtype, pd.CategoricalDtype):
            cats = reference[name].cat.categories
            values = out[name].astype(str)
            fallback = "other" if "other" in cats else None
            out[name] = pd.Categorical(values.where(values.isin(cats), fallback), categories=cats)
    return out
