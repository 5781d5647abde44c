"""``fieldstream import ...``: bring in what tools only export. Each run shows progress, can be
stopped and resumed (a checkpoint beside the input), and re-running it adds nothing: the same
row always becomes the same event id."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fieldstream.cli_common import cli_settings

import_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console(stderr=True)

Org = Annotated[str, typer.Option(help="the org the contacts belong to")]
Campaign = Annotated[str | None, typer.Option(help="campaign for rows that name none")]
Checkpoint = Annotated[
    Path | None, typer.Option(help="checkpoint file (default: <file>.fieldstream-checkpoint)")
]
Restart = Annotated[bool, typer.Option(help="ignore the checkpoint and start from the top")]


@import_app.command("van-export")
def van_export(
    file: Path,
    org: Org,
    campaign: Campaign = None,
    codes_file: Annotated[Path | None, typer.Option(help="the committee's VAN codes")] = None,
    checkpoint: Checkpoint = None,
    restart: Restart = False,
) -> None:
    """A VAN contact-history export (changed-entities ContactHistory CSV or a sync table)."""
    from producers.tools.van.export import import_van_export

    summary = import_van_export(
        file,
        cli_settings().kafka,
        org_id=org,
        campaign_id=campaign,
        codes_file=codes_file,
        checkpoint_path=checkpoint,
        restart=restart,
        progress=True,
    )
    console.print(str(summary))


@import_app.command("csv")
def mapped_csv(
    file: Path,
    mapping: Annotated[Path, typer.Option(help="the mapping YAML (see docs/sources.md)")],
    org: Org,
    campaign: Campaign = None,
    state: Annotated[str | None, typer.Option(help="voter-file state of the voter ids")] = None,
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
        checkpoint_path=checkpoint,
        restart=restart,
        progress=True,
    )
    console.print(str(summary))


@import_app.command("mobilize")
def mobilize(
    org: Org,
    campaign: Annotated[str, typer.Option(help="the campaign the shifts belong to")],
    file: Annotated[
        Path | None, typer.Option(help="a saved Mobilize API export (pages or JSON Lines)")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="polling: keeps the updated_since high-water mark (required); a file: its "
            "checkpoint (default: <file>.fieldstream-checkpoint)"
        ),
    ] = None,
    restart: Restart = False,
) -> None:
    """Mobilize attendances as volunteer shifts (never contacts): from a saved API export
    (--file), or polled from the API (FIELDSTREAM_MOBILIZE__API_TOKEN,
    FIELDSTREAM_MOBILIZE__ORGANIZATION_ID, FIELDSTREAM_MOBILIZE__BASE_URL) for the attendances
    changed since the last poll: run that on a schedule (cron) to keep up."""
    settings = cli_settings()
    if file is not None:
        from producers.tools.mobilize.export import import_export

        summary = import_export(
            file,
            settings.kafka,
            org_id=org,
            campaign_id=campaign,
            checkpoint_path=checkpoint,
            restart=restart,
            progress=True,
        )
        console.print(str(summary))
        return
    if checkpoint is None:
        raise typer.BadParameter("polling needs --checkpoint (or give --file)")
    from producers.tools.mobilize.poller import poll_attendances

    summary = poll_attendances(
        settings.mobilize,
        settings.kafka,
        org_id=org,
        campaign_id=campaign,
        checkpoint_path=checkpoint,
        restart=restart,
        progress=True,
    )
    console.print(str(summary))
