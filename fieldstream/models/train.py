"""Train, cross-validate and score: scikit-learn's histogram gradient boosting, honestly checked.

Why this estimator: it reads categorical columns natively (county, race, districts) and missing
values (an unknown age), is fast on millions of rows on two cores, and needs no tuning to beat a
linear model on interactions such as race by region. Every figure comes from out-of-fold
predictions of stratified k-fold cross-validation, so no voter is scored by a model that saw
their label; each is set beside the majority-class baseline (always predict the commoner label,
with the base rate as its probability), which a model must beat to be worth anything.

Threads: one by default. fieldstream's stream and sink share the machine, and OpenMP's spinning
threads collapse when a core is busy: 5-fold validation of 6,000 IDs took 2.4 s on one thread and
42 s on two while another process kept one core busy (measured on the 2-core machine).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from core.errors import InputError

ESTIMATOR = "sklearn HistGradientBoostingClassifier"
FOLDS = 5
MIN_PER_CLASS = 20
CALIBRATION_BINS = 10


def estimator(seed: int = 0) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        categorical_features="from_dtype",
        learning_rate=0.05,
        max_iter=150,
        max_leaf_nodes=8,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


@dataclass
class Validation:
    """Cross-validated figures of one model, beside the majority-class baseline."""

    labelled: int
    positives: int
    folds: int
    auc: float
    auc_sd: float
    accuracy: float
    brier: float
    log_loss: float
    baseline_accuracy: float
    baseline_brier: float
    baseline_log_loss: float
    calibration: list[tuple[float, float, int]] = field(default_factory=list)
    """Per bin of predicted scores: (mean score, share positive, voters)."""
    oof: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    @property
    def accuracy_margin(self) -> float:
        return self.accuracy - self.baseline_accuracy

    @property
    def brier_skill(self) -> float:
        """1 - Brier / baseline Brier: the share of the baseline's squared error removed."""
        return 1 - self.brier / self.baseline_brier if self.baseline_brier else math.nan

    def summary(self) -> str:
        return (
            f"{self.labelled:,} labelled ({self.positives:,} positive), {self.folds}-fold CV: "
            f"AUC {self.auc:.3f} ± {self.auc_sd:.3f} (baseline 0.500), accuracy "
            f"{self.accuracy:.3f} vs {self.baseline_accuracy:.3f} majority class "
            f"({self.accuracy_margin:+.3f}), Brier {self.brier:.4f} vs {self.baseline_brier:.4f} "
            f"(skill {self.brier_skill:.3f}), log loss {self.log_loss:.4f} vs "
            f"{self.baseline_log_loss:.4f}"
        )

    def calibration_json(self) -> str:
        return json.dumps([[round(p, 5), round(o, 5), n] for p, o, n in self.calibration])


def _check(y: npt.NDArray[np.int_], folds: int) -> None:
    positives = int(y.sum())
    fewest = min(positives, int(y.size) - positives)
    if fewest < max(MIN_PER_CLASS, folds):
        raise InputError(
            f"too few labels to train on: {positives} positive and {y.size - positives} "
            f"negative; each class needs at least {max(MIN_PER_CLASS, folds)}"
        )


def validate(
    features: pd.DataFrame,
    labels: npt.ArrayLike,
    folds: int = FOLDS,
    seed: int = 0,
    threads: int = 1,
) -> Validation:
    """Stratified k-fold cross-validation: out-of-fold scores, metrics, calibration bins."""
    y = np.asarray(labels, dtype=int)
    _check(y, folds)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with threadpool_limits(limits=threads):
        oof = cross_val_predict(estimator(seed), features, y, cv=splitter, method="predict_proba")[
            :, 1
        ]
    per_fold = [roc_auc_score(y[test], oof[test]) for _, test in splitter.split(features, y)]
    rate = float(y.mean())
    prior = np.full(y.size, rate)
    bins = calibration(y, oof)
    return Validation(
        labelled=int(y.size),
        positives=int(y.sum()),
        folds=folds,
        auc=float(roc_auc_score(y, oof)),
        auc_sd=float(np.std(per_fold)),
        accuracy=float(accuracy_score(y, oof >= 0.5)),
        brier=float(brier_score_loss(y, oof)),
        log_loss=float(log_loss(y, oof)),
        baseline_accuracy=max(rate, 1 - rate),
        baseline_brier=float(brier_score_loss(y, prior)),
        baseline_log_loss=float(log_loss(y, prior)),
        calibration=bins,
        oof=oof,
    )


def calibration(
    y: npt.NDArray[np.int_], scores: npt.NDArray[np.float64], bins: int = CALIBRATION_BINS
) -> list[tuple[float, float, int]]:
    """Per bin of equal counts of scores: (mean score, share positive, voters); what the
    calibration plot draws (sklearn's calibration_curve, with the counts kept)."""
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, max(len(edges) - 2, 0))
    out = []
    for b in range(max(len(edges) - 1, 1)):
        m = which == b
        if m.any():
            out.append((float(scores[m].mean()), float(y[m].mean()), int(m.sum())))
    return out


def fit(features: pd.DataFrame, labels: npt.ArrayLike, seed: int = 0, threads: int = 1) -> Any:
    """The model trained on every label (what scores the file)."""
    y = np.asarray(labels, dtype=int)
    _check(y, 2)
    with threadpool_limits(limits=threads):
        return estimator(seed).fit(features, y)


def score(model: Any, features: pd.DataFrame, threads: int = 1) -> npt.NDArray[np.float64]:
    """Each row's probability of the positive label."""
    if features.empty:
        return np.zeros(0)
    with threadpool_limits(limits=threads):
        return np.asarray(model.predict_proba(features)[:, 1], dtype=float)
