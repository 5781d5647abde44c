"""A model run against the store: labels and features in, validation and a score per voter out.

``train_model`` reads the labelled voters (at most ``max_labels``, a seeded sample), validates by
cross-validation, fits on them all, then scores every voter on file a slice at a time (bounded
memory), writing each slice to voter_scores; the run's row in model_runs goes in last, which is
what makes the run current (sinks/ddl/017_voter_scores.sql). Through a running sink the same
calls go over its /query and /insert routes.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InputError
from fieldstream.models.features import (
    HISTORY,
    KEY,
    align,
    feature_names,
    frame,
    history_select,
    prepare,
    support_labels_select,
    turnout_labels_select,
    voter_select,
)
from fieldstream.models.train import ESTIMATOR, FOLDS, Validation, fit, score, validate
from sinks.remote import StoreAccess
from sinks.sql import string_literal

MODELS = ("support", "turnout")
SCORE_COLUMNS = ["org_id", "model", "run_id", "state", "voter_id", "score", "scored_at"]
RUN_COLUMNS = [
    "org_id", "model", "run_id", "label", "features", "estimator", "labelled", "positives",
    "folds", "cv_auc", "cv_auc_sd", "cv_accuracy", "baseline_accuracy", "cv_brier",
    "baseline_brier", "cv_log_loss", "baseline_log_loss", "calibration", "scored",
    "trained_at", "finished_at",
]  # fmt: skip
MAX_LABELS = 200_000
SLICE_VOTERS = 200_000

Progress = Callable[[int, int | None], None]


@dataclass
class ModelRun:
    org: str
    model: str
    run_id: str
    label: str
    features: list[str]
    validation: Validation
    scored: int = 0

    def __str__(self) -> str:
        return (
            f"{self.model} model for {self.org} (run {self.run_id[:8]}): "
            f"{self.validation.summary()}; {self.scored:,} voters scored"
        )


def _history_join(base: str, before: dt.date) -> str:
    cols = ", ".join(f"coalesce(h.{c}, 0) AS {c}" for c in HISTORY)
    return (
        f"SELECT f.*, {cols} FROM ({base}) AS f LEFT JOIN ({history_select(before)}) AS h "
        "ON f.state = h.state AND f.voter_id = h.voter_id SETTINGS join_use_nulls = 1"
    )


def latest_election(store: StoreAccess) -> dt.date:
    rows = store.query("SELECT max(election_date), count() FROM vote_history_elections")[1]
    if not rows or not rows[0][1]:
        raise InputError("no vote history is loaded: run fieldstream load-vote-history first")
    return _date(rows[0][0])


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def labelled(
    store: StoreAccess,
    model: str,
    org: str,
    *,
    campaign: str | None,
    election: dt.date | None,
    max_labels: int,
    seed: int,
) -> tuple[pd.DataFrame, str]:
    """The labelled voters with their features, and what the label means."""
    if model == "support":
        labels = support_labels_select(org, campaign)
        meaning = "support ID 1-2 of 5" + (f" ({campaign})" if campaign else "")
    else:
        assert election is not None
        labels = turnout_labels_select(election)
        meaning = f"voted {election.isoformat()}"
    sql = (
        f"SELECT f.*, l.label AS label FROM ({voter_select()}) AS f INNER JOIN ({labels}) AS l "
        "ON f.state = l.state AND f.voter_id = l.voter_id "
        f"ORDER BY sipHash64(f.voter_id, {int(seed)}) LIMIT {int(max_labels)}"
    )
    if model == "turnout":
        assert election is not None
        sql = _history_join(sql, election)
    data = frame(*store.query(sql))
    if data.empty:
        raise InputError(
            f"no labelled voter for the {model} model: "
            + (
                "no support IDs for voters on file"
                if model == "support"
                else "no voters on file in the states with that election's history"
            )
        )
    return data, meaning


def train_model(
    store: StoreAccess,
    model: str,
    org: str,
    *,
    campaign: str | None = None,
    election: dt.date | None = None,
    without: Sequence[str] = (),
    folds: int = FOLDS,
    seed: int = 0,
    threads: int = 1,
    max_labels: int = MAX_LABELS,
    slice_voters: int = SLICE_VOTERS,
    on_progress: Progress | None = None,
    today: dt.date | None = None,
) -> ModelRun:
    """Train ``model`` (support or turnout) for ``org``, validate it, score every voter."""
    if model not in MODELS:
        raise InputError(f"the model is one of {', '.join(MODELS)}")
    if not org.strip():
        raise InputError("--org must not be empty")
    if model == "turnout" and election is None:
        election = latest_election(store)
    names = feature_names(model, without)
    data, meaning = labelled(
        store, model, org, campaign=campaign, election=election, max_labels=max_labels, seed=seed
    )
    x = prepare(data, names)
    y = data["label"].astype(int).to_numpy()
    trained_at = dt.datetime.now(dt.UTC)
    validation = validate(x, y, folds=folds, seed=seed, threads=threads)
    fitted = fit(x, y, seed=seed, threads=threads)
    run = ModelRun(org, model, uuid.uuid4().hex, meaning, names, validation)
    as_of = (today or dt.date.today()) + dt.timedelta(days=1)  # history up to today
    run.scored = score_voters(
        store, run, fitted, x, as_of=as_of, slice_voters=slice_voters, threads=threads,
        on_progress=on_progress,
    )  # fmt: skip
    finished = dt.datetime.now(dt.UTC)
    v = validation
    store.insert(
        "model_runs",
        RUN_COLUMNS,
        [[
            org, model, run.run_id, meaning, names, ESTIMATOR, v.labelled, v.positives, v.folds,
            v.auc, v.auc_sd, v.accuracy, v.baseline_accuracy, v.brier, v.baseline_brier,
            v.log_loss, v.baseline_log_loss, v.calibration_json(), run.scored, trained_at,
            finished,
        ]],
    )  # fmt: skip
    return run


def score_voters(
    store: StoreAccess,
    run: ModelRun,
    fitted: Any,
    reference: pd.DataFrame,
    *,
    as_of: dt.date,
    slice_voters: int,
    threads: int,
    on_progress: Progress | None,
) -> int:
    """Score every voter on file, ``slice_voters`` at a time; the number scored."""
    total = int(store.query("SELECT count() FROM voters FINAL")[1][0][0])
    slices = max(1, math.ceil(total / slice_voters))
    done = 0
    for i in range(slices):
        where = f"cityHash64(voter_id) % {slices} = {i}"
        sql = voter_select(where)
        if run.model == "turnout":
            sql = _history_join(sql, as_of)
        data = frame(*store.query(sql))
        if data.empty:
            continue
        scores = score(fitted, align(prepare(data, run.features), reference), threads=threads)
        at = dt.datetime.now(dt.UTC)
        keys = data[list(KEY)].to_numpy()
        store.insert(
            "voter_scores",
            SCORE_COLUMNS,
            [
                [run.org, run.model, run.run_id, s, v, float(p), at]
                for (s, v), p in zip(keys, np.round(scores, 6), strict=True)
            ],
        )
        done += len(data)
        if on_progress is not None:
            on_progress(done, total)
    return done


def van_scores_select(org: str, model: str, id_type: str) -> str:
    """Current scores with the person id VAN knows them by: the state file id, or the latest
    VAN id the org's tools reported for the voter (voters without one are left out)."""
    o, m = string_literal(org), string_literal(model)
    if id_type == "statefileid":
        return (
            "SELECT voter_id, score FROM voter_scores_current "
            f"WHERE org_id = {o} AND model = {m} ORDER BY voter_id"
        )
    return (
        "SELECT i.latest_van_id, s.score FROM voter_scores_current AS s INNER JOIN "
        "(SELECT c.state AS state, c.voter_id AS voter_id, "
        "argMax(c.van_id, c.occurred_at) AS latest_van_id FROM contact_events AS c FINAL "
        f"WHERE c.org_id = {o} AND c.van_id != '' GROUP BY c.state, c.voter_id) AS i "
        "ON s.state = i.state AND s.voter_id = i.voter_id "
        f"WHERE s.org_id = {o} AND s.model = {m} ORDER BY i.latest_van_id"
    )
