"""The report's post-election analysis: what the program changed, and the org's models.

Written as a dashboard (like fieldstream.report.extras) so its panels take the boards' path:
rendered with the report's org and campaign, suppressed by fieldstream.report.privacy (group
size: ``smaller_arm``, the smaller of the two arms, so no group's turnout is shown for fewer
than k held-out or targeted voters), drawn by fieldstream.report.analysis_charts. The section
is added only when the org has something to show: a campaign with a holdout measured on an
election, or a model run. What the numbers mean and cannot show: docs/effects.md, docs/models.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fieldstream.grafana_sql import VariableValue
from fieldstream.report.extras import DATASOURCE
from fieldstream.report.model import Section
from sinks.sql import string_literal

Query = Callable[[str], tuple[list[str], list[list[Any]]]]
SCOPE = "org_id = '${org}' AND campaign_id = '${campaign}'"
PROGRAM_ELECTION = (
    f"election_date = (SELECT min(election_date) FROM effect_elections WHERE {SCOPE} "
    "AND after_program = 1)"
)
RATES = "/^(turnout_|contact_rate|breach_rate|itt|cace|naive|first_stage)/"
EFFECT_COLUMNS = (
    "value", "source", "smaller_arm", "n_targeted", "n_holdout", "contact_rate", "itt",
    "itt_low", "itt_high", "cace", "cace_low", "cace_high", "naive",
)  # fmt: skip

OVERALL_COLUMNS = (
    "election_date", "after_program", "value", "smaller_arm", "n_targeted", "n_holdout",
    "turnout_targeted", "turnout_holdout", "contact_rate", "breach_rate", "itt", "itt_low",
    "itt_high", "cace", "cace_low", "cace_high", "naive",
)  # fmt: skip
MODEL_COLUMNS = (
    "model", "label", "labelled", "positives", "cv_auc", "cv_auc_sd", "cv_accuracy",
    "baseline_accuracy", "cv_brier", "baseline_brier", "scored", "finished_at",
)  # fmt: skip


def _panel(
    title: str, kind: str, sql: str, columns: Sequence[str], description: str, width: int = 12
) -> dict[str, Any]:
    return {
        "title": title,
        "type": kind,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": width},
        "fieldConfig": {
            "defaults": {},
            "overrides": [
                {
                    "matcher": {"id": "byRegexp", "options": RATES},
                    "properties": [{"id": "unit", "value": "percentunit"}],
                }
            ],
        },
        "targets": [
            {
                "datasource": DATASOURCE,
                "refId": "A",
                "queryType": "table",
                "format": 1,
                "rawSql": sql,
                "expectedColumns": list(columns),
            }
        ],
    }


def _by(dimension: str, title: str, width: int = 12) -> dict[str, Any]:
    sql = (
        f"SELECT {', '.join(EFFECT_COLUMNS)}\nFROM effect_estimates\n"
        f"WHERE {SCOPE} AND {PROGRAM_ELECTION}\n  AND dimension = '{dimension}' "
        "AND smaller_arm >= ${min_group_size}\nORDER BY value, source"
    )
    return _panel(
        title,
        "effects",
        sql,
        EFFECT_COLUMNS,
        "The effect of a contact on the turnout of the voters it reached (complier effect, "
        "filled dot, with its 95% interval) beside the naive difference between contacted and "
        "not-contacted voters (hollow dot), in the election after the program. Groups are "
        "attributes known before the program; each compares its own targeted and held-out voters.",
        width,
    )


HOLDOUT = _panel(
    "Holdout and breaches",
    "stat",
    f"SELECT held_out, breached, breached_contacted\nFROM holdout_breaches\nWHERE {SCOPE}",
    ("held_out", "breached", "breached_contacted"),
    "Voters held out of the universe at random (never to be contacted), and those the campaign "
    "attempted (breached) or talked to anyway. Breaches shrink the measured effect.",
    24,
)
OVERALL = _panel(
    "Turnout, targeted against held out, by election",
    "table",
    "SELECT election_date, after_program, value, smaller_arm, n_targeted, n_holdout,\n"
    "    turnout_targeted, turnout_holdout, contact_rate, breach_rate, itt, itt_low, itt_high,\n"
    "    cace, cace_low, cace_high, naive\nFROM effect_estimates\n"
    f"WHERE {SCOPE} AND dimension = 'overall' AND smaller_arm >= ${{min_group_size}}\n"
    "ORDER BY election_date",
    OVERALL_COLUMNS,
    "itt: turnout of the targeted minus the held out (the effect of being in the universe); "
    "cace: itt over the difference in contact rates (the effect of a contact on those reached); "
    "naive: contacted minus not contacted (biased: programs reach likely voters). An election "
    "before the program (after_program 0) checks the draw: its itt should be near 0.",
    24,
)
MODELS = _panel(
    "Models: cross-validated against the majority class",
    "table",
    "SELECT model, label, labelled, positives, cv_auc, cv_auc_sd, cv_accuracy, "
    "baseline_accuracy,\n    cv_brier, baseline_brier, scored, finished_at\n"
    "FROM model_runs_current\nWHERE org_id = '${org}'\nORDER BY model",
    MODEL_COLUMNS,
    "Each model's current run (fieldstream model support | turnout): out-of-fold AUC, accuracy "
    "beside always predicting the commoner label, Brier score beside predicting the base rate, "
    "and the voters scored (voter_scores_current).",
    14,
)
CALIBRATION = _panel(
    "Calibration of the models",
    "calibration",
    "SELECT model, calibration\nFROM model_runs_current\nWHERE org_id = '${org}'\nORDER BY model",
    ("model", "calibration"),
    "Out-of-fold scores in ten bins of equal size: the mean score against the share positive. "
    "On the dashed line a score of 0.7 means 7 in 10 such voters are positive.",
    10,
)

ANALYSIS: dict[str, Any] = {
    "uid": "fs-analysis",
    "title": "Post-election analysis",
    "description": "What the program changed, measured against its randomized holdout "
    "(docs/effects.md), and the org's models (docs/models.md).",
    "templating": {"list": []},
    "panels": [
        HOLDOUT,
        OVERALL,
        _by("channel", "Effect of a contact, by planned channel"),
        _by("race", "Effect of a contact, by race (with its source)"),
        _by("county", "Effect of a contact, by county", 24),
        MODELS,
        CALIBRATION,
    ],
}


def has_analysis(query: Query, org: str, campaign: str) -> tuple[bool, bool]:
    """(the campaign has a holdout measured on an election, the org has a model run)."""

    def some(sql: str) -> bool:
        try:
            return bool(query(sql)[-1])
        except Exception:  # a store without these views has nothing to show
            return False

    o, c = string_literal(org), string_literal(campaign)
    effects = some(
        f"SELECT 1 FROM effect_elections WHERE org_id = {o} AND campaign_id = {c} LIMIT 1"
    )
    models = some(f"SELECT 1 FROM model_runs_current WHERE org_id = {o} LIMIT 1")
    return effects, models


def analysis_board(query: Query, org: str, campaign: str) -> dict[str, Any] | None:
    """The analysis dashboard with the panels there is something for (None: nothing)."""
    effects, models = has_analysis(query, org, campaign)
    keep = [
        p
        for p in ANALYSIS["panels"]
        if (effects and p not in (MODELS, CALIBRATION)) or (models and p in (MODELS, CALIBRATION))
    ]
    return {**ANALYSIS, "panels": keep} if keep else None


def analysis_section(
    query: Query,
    fixed: Mapping[str, VariableValue],
    build: Callable[..., tuple[Section, dict[str, VariableValue]]],
    now: dt.datetime,
    k: int,
) -> Section | None:
    """The section for the report's org and campaign, or None when there is nothing to show.
    ``build`` is fetch.build_section (passed in: fetch imports this module)."""
    org, campaign = str(fixed.get("org", "")), str(fixed.get("campaign", ""))
    board = analysis_board(query, org, campaign)
    if board is None:
        return None
    return build(board, query, fixed, now - dt.timedelta(days=1), now, k)[0]
