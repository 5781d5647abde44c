"""Models for data managers: the support model learns a known rule; scores leave in VAN's shape."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from core.errors import InputError
from fieldstream.models.features import align, feature_names, prepare
from fieldstream.models.synthetic import ids, voters
from fieldstream.models.train import calibration, validate
from fieldstream.models.van import write_van_scores

MARGIN = 0.08  # accuracy over the majority class, stated in docs/models.md


@pytest.fixture(scope="module")
def support_ids() -> pd.DataFrame:
    return ids(voters(30_000, seed=1), canvassed=0.2, seed=1)


def test_support_model_beats_the_majority_class_by_the_stated_margin(
    support_ids: pd.DataFrame,
) -> None:
    x = prepare(support_ids, feature_names("support"))
    v = validate(x, support_ids["label"], seed=0)
    oracle = roc_auc_score(support_ids["label"], support_ids["true_p"])
    assert v.labelled == len(support_ids) > 5000
    assert v.accuracy - v.baseline_accuracy >= MARGIN
    assert v.auc >= 0.75 and v.auc >= oracle - 0.03  # close to the generating rule's own AUC
    assert v.brier < v.baseline_brier and v.log_loss < v.baseline_log_loss
    # calibrated: in every tenth of the scores the share of supporters is near the mean score
    assert len(v.calibration) == 10 and sum(n for _, _, n in v.calibration) == v.labelled
    assert max(abs(p - o) for p, o, _ in v.calibration) < 0.08


def test_a_model_without_signal_does_not_beat_the_baseline(support_ids: pd.DataFrame) -> None:
    shuffled = np.random.default_rng(3).permutation(support_ids["label"].to_numpy())
    v = validate(prepare(support_ids, feature_names("support")), shuffled, seed=0)
    assert v.auc < 0.56 and v.accuracy - v.baseline_accuracy < 0.02


def test_too_few_labels_are_refused() -> None:
    few = ids(voters(300, seed=2), canvassed=0.1, seed=2)
    with pytest.raises(InputError, match="too few labels"):
        validate(prepare(few, feature_names("support")), few["label"])


def test_features_by_model_and_without() -> None:
    assert "elections_voted" in feature_names("turnout")
    assert "elections_voted" not in feature_names("support")
    assert "race" not in feature_names("support", ["race", "race_source"])
    with pytest.raises(InputError, match="zip is not a feature"):
        feature_names("support", ["zip"])


def test_precincts_are_named_with_their_county_and_unseen_values_align() -> None:
    train = pd.DataFrame({"county": ["A", "B"], "precinct": ["1", "1"], "age": [30, None]})
    x = prepare(train, ["precinct", "age"])
    assert list(x["precinct"].cat.categories) == ["A / 1", "B / 1"]
    assert np.isnan(x["age"][1])
    later = align(prepare(pd.DataFrame({"county": ["C"], "precinct": ["9"], "age": [50]}),
                          ["precinct", "age"]), x)  # fmt: skip
    assert list(later["precinct"].cat.categories) == ["A / 1", "B / 1"]
    assert later["precinct"].isna().all()


def test_calibration_bins_hold_equal_counts() -> None:
    scores = np.linspace(0, 1, 1000)
    y = (np.random.default_rng(0).random(1000) < scores).astype(int)
    bins = calibration(y, scores, bins=10)
    assert [n for _, _, n in bins] == [100] * 10
    assert bins[0][0] < 0.1 and bins[-1][0] > 0.9


def test_van_export_is_a_zipped_csv_and_its_request(tmp_path: Path) -> None:
    out = tmp_path / "support.zip"
    export = write_van_scores(
        out, [("101", 0.123), ("102", 0.9), ("103", 0.5)], id_type="vanid", score_id=77,
        tolerance=0.05,
    )  # fmt: skip
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["support.csv"]
        rows = list(csv.reader(io.StringIO(z.read("support.csv").decode())))
    assert rows == [["VanID", "Score"], ["101", "12.3"], ["102", "90.0"], ["103", "50.0"]]
    body = json.loads((tmp_path / "support.job.json").read_text())
    assert body == export.body
    assert body["file"]["fileName"] == "support.csv"
    assert body["file"]["columns"] == [{"name": "VanID"}, {"name": "Score"}]
    assert body["file"]["columnDelimiter"] == "Csv" and body["file"]["hasHeader"] is True
    (action,) = body["actions"]
    assert action == {
        "actionType": "Score", "personIdColumn": "VanID", "personIdType": "VANID",
        "scoreColumn": "Score", "scoreId": 77,
        "approvalCriteria": {"average": round((12.3 + 90 + 50) / 3, 4), "tolerance": 0.05},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id_type": "dwid"}, "--id-type"),
        ({"score_id": 0}, "--score-id"),
        ({"tolerance": 0.5}, "at most 0.1"),
        ({"scores": [("1", 0.2), ("1", 0.3)]}, "twice"),
        ({"scores": [("1", 1.2)]}, "outside 0..1"),
        ({"scores": []}, "no voter"),
    ],
)
def test_van_export_refuses_what_van_would(tmp_path: Path, kwargs: dict, message: str) -> None:
    args: dict = {"id_type": "statefileid", "score_id": 5, "scores": [("NC1", 0.5)], **kwargs}
    scores = args.pop("scores")
    with pytest.raises(InputError, match=message):
        write_van_scores(tmp_path / "s.zip", scores, **args)
    assert not (tmp_path / "s.zip").exists()
