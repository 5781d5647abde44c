"""Commands of the post-election analysis: load vote history, train models, export scores.

``fieldstream load-vote-history`` (sinks.vote_history), ``fieldstream model support | turnout |
export-van`` (fieldstream.models). Thin wiring from settings and options to plain functions.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from core.errors import InputError
from fieldstream.cli_common import cli_settings

if TYPE_CHECKING:
    from sinks.holdout import HoldoutPlan
    from sinks.remote import StoreAccess

console = Console(stderr=True)
model_app = typer.Typer(
    help="Models for data managers: support (from IDs) and turnout (from vote history).",
    no_args_is_help=True,
)


def _dates(values: list[str] | None, option: str) -> list[dt.date]:
    out = []
    for v in values or []:
        try:
            out.append(dt.date.fromisoformat(v.strip()))
        except ValueError:
            raise InputError(f"{option} {v!r} is not a date (YYYY-MM-DD)") from None
    return out


HOLDOUT = Annotated[
    float | None,
    typer.Option(help="hold out this share of each campaign's universe (e.g. 0.1), at random"),
]
HOLDOUT_SEED = Annotated[
    int | None, typer.Option(help="the holdout's seed (recorded; default: a random one)")
]
STRATIFY = Annotated[
    str,
    typer.Option(
        help="balance the holdout within these, comma separated: precinct, county, turf, "
        "race, ethnicity, sex, age_band"
    ),
]


def holdout_plan(share: float | None, seed: int | None, stratify: str) -> HoldoutPlan | None:
    """The plan the load-universe options describe (None without --holdout)."""
    from sinks.holdout import HoldoutPlan

    if share is None:
        if seed is not None or stratify:
            raise InputError("--seed and --stratify go with --holdout")
        return None
    return HoldoutPlan.parse(share, secrets.randbits(62) if seed is None else seed, stratify)


def load_with_holdout(
    store: StoreAccess,
    file: Path | None,
    org: str | None,
    campaign: str | None,
    where: str | None,
    plan: HoldoutPlan,
) -> str:
    from sinks.universe_holdout import load_universe_holdout, load_universe_where_holdout

    if file is not None:
        return str(load_universe_holdout(store, file, plan))
    assert org is not None and campaign is not None and where is not None
    return str(load_universe_where_holdout(store, org, campaign, where, plan))


def export_universe_cmd(
    org: Annotated[str, typer.Option("--org", help="org_id")],
    campaign: Annotated[str, typer.Option("--campaign", help="campaign_id")],
    out: Annotated[Path, typer.Option(help="the CSV to write")],
) -> None:
    """Write the campaign's targeted universe (held-out voters left out) as a CSV for the
    field tools: state, voter_id, turf_id, channel."""
    from fieldstream.lists import write_targeted
    from sinks.remote import connect_store

    store = connect_store(cli_settings())
    try:
        written, held_out = write_targeted(store, org, campaign, out)
    finally:
        store.close()
    console.print(f"wrote {written:,} voters to {out} ({held_out:,} held-out voters left out)")


def load_vote_history_cmd(
    file: Path,
    preset: Annotated[
        str | None, typer.Option(help="nc or l2 (sinks/vote_history_presets)")
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="a vote-history mapping YAML")] = None,
    election: Annotated[
        list[str] | None,
        typer.Option(help="only this election day, YYYY-MM-DD; repeat for more (default: all)"),
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option(help="load the good rows even if some are bad (they are counted)")
    ] = False,
) -> None:
    """Load who voted (a state's or a vendor's vote history, CSV or Parquet) into ClickHouse.

    A load replaces, for each state and election it holds, the previous load of that election."""
    from producers.progress import progress_bar
    from sinks.remote import connect_store
    from sinks.vote_history import load_vote_history
    from sinks.vote_history_mapping import load_history_mapping

    history_mapping = load_history_mapping(mapping, preset)
    store = connect_store(cli_settings())
    try:
        with progress_bar(True) as update:
            summary = load_vote_history(
                store,
                file,
                history_mapping,
                elections=_dates(election, "--election"),
                skip_bad=skip_bad,
                on_progress=lambda done, total: update(f"reading {file.name}", done, total),
            )
    finally:
        store.close()
    console.print(str(summary))


def _train(
    model: str,
    org: str,
    campaign: str | None,
    election: str | None,
    without: str,
    folds: int,
    seed: int,
    threads: int,
    max_labels: int,
    plot: Path | None,
) -> None:
    from fieldstream.models.run import train_model
    from producers.progress import progress_bar
    from sinks.remote import connect_store

    store = connect_store(cli_settings())
    try:
        with progress_bar(True) as update:
            run = train_model(
                store,
                model,
                org,
                campaign=campaign,
                election=_dates([election], "--election")[0] if election else None,
                without=[w.strip() for w in without.split(",") if w.strip()],
                folds=folds,
                seed=seed,
                threads=threads,
                max_labels=max_labels,
                on_progress=lambda done, total: update("scoring voters", done, total),
            )
    finally:
        store.close()
    console.print(str(run))
    if plot is not None:
        from fieldstream.report.analysis_charts import calibration_svg

        plot.write_text(calibration_svg(model, run.validation.calibration), encoding="utf-8")
        console.print(f"wrote the calibration plot to {plot}")


ORG = Annotated[str, typer.Option("--org", help="the org whose model and scores these are")]
WITHOUT = Annotated[
    str, typer.Option(help="features to leave out, comma separated (e.g. race,race_source)")
]
FOLDS = Annotated[int, typer.Option(min=2, max=20, help="cross-validation folds")]
SEED = Annotated[int, typer.Option(help="seed of the folds, the sample and the model")]
THREADS = Annotated[int, typer.Option(min=1, help="OpenMP threads (1 beside a running stack)")]
MAX_LABELS = Annotated[int, typer.Option(min=100, help="train on at most this many voters")]
PLOT = Annotated[Path | None, typer.Option(help="also write the calibration plot (SVG)")]


@model_app.command("support")
def support_cmd(
    org: ORG,
    campaign: Annotated[str | None, typer.Option(help="only this campaign's IDs")] = None,
    without: WITHOUT = "",
    folds: FOLDS = 5,
    seed: SEED = 0,
    threads: THREADS = 1,
    max_labels: MAX_LABELS = 200_000,
    plot: PLOT = None,
) -> None:
    """Train a support model on the org's IDs (1-2 of 5 = supporter), cross-validate it and
    score every voter on file (voter_scores; the run's figures in model_runs)."""
    _train("support", org, campaign, None, without, folds, seed, threads, max_labels, plot)


@model_app.command("turnout")
def turnout_cmd(
    org: ORG,
    election: Annotated[
        str | None, typer.Option(help="learn from this election, YYYY-MM-DD (default: latest)")
    ] = None,
    without: WITHOUT = "",
    folds: FOLDS = 5,
    seed: SEED = 0,
    threads: THREADS = 1,
    max_labels: MAX_LABELS = 200_000,
    plot: PLOT = None,
) -> None:
    """Train a turnout model on who voted in a past election (with the history before it),
    cross-validate it and score every voter with their history up to today."""
    _train("turnout", org, None, election, without, folds, seed, threads, max_labels, plot)


@model_app.command("export-van")
def export_van_cmd(
    org: ORG,
    out: Annotated[Path, typer.Option(help="the zip to write (its request body goes beside)")],
    score_id: Annotated[int, typer.Option(help="the VAN score slot's id (scoreId)")],
    model: Annotated[str, typer.Option(help="support or turnout")] = "support",
    id_type: Annotated[
        str, typer.Option(help="vanid (ids the org's tools reported) or statefileid")
    ] = "vanid",
    scale: Annotated[float, typer.Option(help="multiply each 0..1 score by this")] = 100.0,
    decimals: Annotated[int, typer.Option(min=0, max=6)] = 1,
    approve_tolerance: Annotated[
        float | None, typer.Option(help="ask VAN to auto-approve within this tolerance (≤ 0.1)")
    ] = None,
) -> None:
    """Write the current scores as VAN's score upload takes them: a zipped CSV and the
    fileLoadingJobs request body (docs/models.md)."""
    from fieldstream.models.run import MODELS, van_scores_select
    from fieldstream.models.van import ID_TYPES, write_van_scores
    from sinks.remote import connect_store

    if model not in MODELS:
        raise InputError(f"--model is one of {', '.join(MODELS)}")
    if id_type not in ID_TYPES:
        raise InputError(f"--id-type is one of {', '.join(ID_TYPES)}")
    store = connect_store(cli_settings())
    try:
        rows = store.query(van_scores_select(org, model, id_type))[1]
    finally:
        store.close()
    export = write_van_scores(
        out,
        ((str(r[0]), float(r[1])) for r in rows),
        id_type=id_type,
        score_id=score_id,
        scale=scale,
        decimals=decimals,
        tolerance=approve_tolerance,
        description=f"fieldstream {model} scores for {org}",
    )
    console.print(str(export))
