"""Model runs on real chDB: labels from contacts and vote history, a score for every voter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from fieldstream.models.run import train_model, van_scores_select
from fieldstream.models.synthetic import ids, voters
from fieldstream.models.van import write_van_scores
from sinks.migrate import migrate
from sinks.remote import DirectAccess
from sinks.rows import VOTER_COLUMNS
from sinks.store import LockedStore, open_store
from sinks.vote_history import COLUMNS as HISTORY_COLUMNS
from sinks.vote_history import LOAD_COLUMNS

pytestmark = pytest.mark.integration

ORG = "org-m"
NOW = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
G2022, G2024 = dt.date(2022, 11, 8), dt.date(2024, 11, 5)
CONTACT_COLUMNS = [
    "event_id", "org_id", "campaign_id", "channel", "occurred_at", "received_at", "enriched_at",
    "state", "voter_id", "van_id", "result", "is_contact", "has_id", "support_level",
]  # fmt: skip


def voter_rows(file: pd.DataFrame) -> list[list[object]]:
    rows = []
    for r in file.itertuples():
        values = {
            "voter_id": r.voter_id, "state": r.state, "county": r.county, "precinct": r.precinct,
            "congressional_district": r.congressional_district,
            "state_senate_district": r.state_senate_district,
            "state_house_district": r.state_house_district, "birth_year": 2026 - int(r.age),
            "age": None, "age_band": "", "sex": r.sex, "race": r.race,
            "race_source": r.race_source, "race_probability": None, "ethnicity": r.ethnicity,
            "ethnicity_source": r.ethnicity_source, "ethnicity_probability": None,
            "precinct_lat": r.precinct_lat, "precinct_lon": r.precinct_lon, "updated_at": NOW,
        }  # fmt: skip
        rows.append([values[c] for c in VOTER_COLUMNS])
    return rows


@pytest.fixture(scope="module")
def file() -> pd.DataFrame:
    return voters(6000, seed=4)


@pytest.fixture
def store(chdb_dsn: str, file: pd.DataFrame) -> Iterator[DirectAccess]:
    locked = LockedStore(open_store(chdb_dsn))
    try:
        migrate(locked.client)
        locked.insert("voters", VOTER_COLUMNS, voter_rows(file))
        yield DirectAccess(locked)
    finally:
        locked.close()


def add_ids(store: DirectAccess, file: pd.DataFrame) -> pd.DataFrame:
    canvassed = ids(file, canvassed=0.3, seed=4)
    rows = [
        [f"e{i}", ORG, "persuade", "door", NOW, NOW, NOW, r.state, r.voter_id, f"9{i:06d}",
         "canvassed", 1, 1, 1 if r.label else 4]
        for i, r in enumerate(canvassed.itertuples())
    ]  # fmt: skip
    store.insert("contact_events", CONTACT_COLUMNS, rows)
    return canvassed


def test_support_model_scores_every_voter_and_the_newest_run_is_current(
    store: DirectAccess, file: pd.DataFrame, tmp_path: Path
) -> None:
    canvassed = add_ids(store, file)
    progress: list[tuple[int, int | None]] = []
    run = train_model(store, "support", ORG, slice_voters=1500,
                      on_progress=lambda d, t: progress.append((d, t)))  # fmt: skip
    assert run.scored == len(file) and progress[-1] == (len(file), len(file))
    assert run.validation.labelled == len(canvassed)
    assert run.validation.accuracy > run.validation.baseline_accuracy + 0.05
    (count, voters_scored, low, high), = store.query(
        "SELECT count(), uniqExact(voter_id), min(score), max(score) FROM voter_scores_current "
        f"WHERE org_id = '{ORG}' AND model = 'support'"
    )[1]  # fmt: skip
    assert count == voters_scored == len(file) and 0 <= low < high <= 1
    runs = store.query("SELECT run_id, labelled, cv_auc, baseline_accuracy, calibration "
                       "FROM model_runs_current")[1]  # fmt: skip
    assert len(runs) == 1 and runs[0][0] == run.run_id and runs[0][2] > 0.7

    again = train_model(store, "support", ORG, seed=1)
    current = store.query("SELECT DISTINCT run_id FROM voter_scores_current")[1]
    assert current == [[again.run_id]]

    export = write_van_scores(
        tmp_path / "support.zip",
        store.query(van_scores_select(ORG, "support", "vanid"))[1],
        id_type="vanid",
        score_id=12,
    )
    assert export.written == len(canvassed)  # only voters whose VAN id a tool reported
    by_file = store.query(van_scores_select(ORG, "support", "statefileid"))[1]
    assert len(by_file) == len(file)


def test_turnout_model_learns_from_history_before_the_election(
    store: DirectAccess, file: pd.DataFrame
) -> None:
    rng = np.random.default_rng(5)
    habit = rng.random(len(file))  # the same voters tend to vote in both elections
    at = dt.datetime.now(dt.UTC)
    rows, loads = [], []
    for election, cut in ((G2022, 0.55), (G2024, 0.45)):
        voted = file[habit + rng.normal(0, 0.15, len(file)) > cut]
        rows += [
            [r.state, r.voter_id, election, "GENERAL", "", "L1", at] for r in voted.itertuples()
        ]
        loads.append(["L1", "ZZ", election, len(voted), "test", at, at])
    store.insert("vote_history", HISTORY_COLUMNS, rows)
    store.insert("vote_history_loads", LOAD_COLUMNS, loads)
    run = train_model(store, "turnout", ORG)  # the latest election on file: 2024
    assert run.label == "voted 2024-11-05"
    assert "voted_previous" in run.features
    assert run.validation.labelled == len(file)
    assert run.validation.auc > 0.8  # having voted in 2022 says much about 2024
    assert run.scored == len(file)


def test_no_labels_say_so(store: DirectAccess) -> None:
    with pytest.raises(InputError, match="no support IDs"):
        train_model(store, "support", ORG)
    with pytest.raises(InputError, match="no vote history"):
        train_model(store, "turnout", ORG)
