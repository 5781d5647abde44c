"""``fieldstream import ...``: bring in what tools only export. Each run shows progress, can be
stopped and resumed (a checkpoint in the data directory, under imports/), and re-running it
adds nothing: the same row always becomes the same event id. Bad rows are not imported: the
first are shown with their reason, all of them go to <data dir>/imports/<name>.rejects.csv,
and the command exits 1 (2 when the import could not run at all)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from fieldstream.cli_common import cli_settings

if TYPE_CHECKING:
    from producers.importers.runner import ImportSummary

import_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console(stderr=True)

Org = Annotated[str, typer.Option(help="the org the contacts belong to")]
Campaign = Annotated[str | None, typer.Option(help="campaign for rows that name none")]
Checkpoint = Annotated[
    Path | None,
    typer.Option(help="checkpoint file (default: <data dir>/imports/<name>.checkpoint)"),
]
Restart = Annotated[bool, typer.Option(help="ignore the checkpoint and start from the top")]
Partial = Annotated[
    str,
    typer.Option(
        help="a contact whose result maps but a survey answer does not: count (its answer "
        "held for `fieldstream dlq replay`) or hold (the whole contact)"
    ),
]


def _partial(value: str) -> Literal["count", "hold"]:
    if value not in ("count", "hold"):
        raise typer.BadParameter("--partial-contacts is count or hold")
    return "count" if value == "count" else "hold"


def _checkpoint(given: Path | None, inputs: list[Path | str]) -> Path:
    """The checkpoint: as given, else in the data directory, named after the import."""
    from producers.importers import checkpoint as cp

    if given is not None:
        return given
    return cp.default_path(cli_settings().data_dir, cp.import_name(inputs))


def _finish(summary: ImportSummary) -> None:
    console.print(str(summary))
    if summary.rejected:
        raise typer.Exit(1)


@import_app.command("van-export")
def van_export(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="a contacts table (ContactHistory / contactscontacts), and optionally its "
            "survey-responses and activist-codes tables"
        ),
    ],
    org: Org,
    campaign: Campaign = None,
    codes_file: Annotated[
        Path | None, typer.Option(help="the committee's VAN codes (see docs/getting-started.md)")
    ] = None,
    partial_contacts: Partial = "count",
    checkpoint: Checkpoint = None,
    restart: Restart = False,
) -> None:
    """VAN contact history (a changed-entities ContactHistory CSV or a Pipeline sync table),
    with the Pipeline's survey-response and activist-code tables of the same contacts."""
    from producers.tools.van.export import import_van_export

    summary = import_van_export(
        files,
        cli_settings().kafka,
        org_id=org,
        campaign_id=campaign,
        codes_file=codes_file,
        partial_contacts=_partial(partial_contacts),
        checkpoint_path=_checkpoint(checkpoint, list(files)),
        restart=restart,
        progress=True,
    )
    _finish(summary)


@import_app.command("csv")
def mapped_csv(
    file: Path,
    mapping: Annotated[Path, typer.Option(help="the mapping YAML (see docs/getting-started.md)")],
    org: Org,
    campaign: Campaign = None,
    state: Annotated[str | None, typer.Option(help="voter-file state of the voter ids")] = None,
    partial_contacts: Partial = "count",
    checkpoint: Checkpoint = None,
    restart: Restart = False,
) -> None:
    """Any tool's CSV export, through a mapping file: no code needed."""
    from producers.tools.csv.importer import import_mapped_csv

    summary = import_mapped_csv(
        file,
        mapping,
        cli_settings().kafka,
        org_id=org,
        campaign_id=campaign,
        state=state,
        partial_contacts=_partial(partial_contacts),
        checkpoint_path=_checkpoint(checkpoint, [file]),
        restart=restart,
        progress=True,
    )
    _finish(summary)


@import_app.command("mobilize")
def mobilize(
    org: Org,
    campaign: Annotated[str, typer.Option(help="the campaign the shifts belong to")],
    file: Annotated[
        Path | None,
        typer.Option(
            help="a saved API export (pages as the API returns them, an array, or JSON "
            "Lines) instead of polling the API"
        ),
    ] = None,
    checkpoint: Checkpoint = None,
    restart: Restart = False,
) -> None:
    """Mobilize attendances as volunteer shifts (never contacts): polled from the API for those
    changed since the last poll (FIELDSTREAM_MOBILIZE__API_TOKEN, __ORGANIZATION_ID,
    __BASE_URL; run it on a schedule to keep up), or from a saved export with --file."""
    settings = cli_settings()
    if file is not None:
        from producers.tools.mobilize.export import import_export

        summary = import_export(
            file,
            settings.kafka,
            org_id=org,
            campaign_id=campaign,
            checkpoint_path=_checkpoint(checkpoint, [file]),
            restart=restart,
            progress=True,
        )
    else:
        from producers.importers import checkpoint as cp
        from producers.tools.mobilize.poller import poll_attendances, poll_name

        summary = poll_attendances(
            settings.mobilize,
            settings.kafka,
            org_id=org,
            campaign_id=campaign,
            checkpoint_path=checkpoint
            or cp.default_path(settings.data_dir, poll_name(settings.mobilize)),
            restart=restart,
            progress=True,
        )
    _finish(summary)
