"""``fieldstream quality ...``: the shifts the quality checks flagged (docs/quality.md), and a
person's decision on each. The checks themselves run as ``python -m streams.quality``."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from core.errors import FieldstreamError
from fieldstream.cli_common import cli_settings

quality_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console()


def _store() -> Any:
    from sinks.remote import connect_store

    return connect_store(cli_settings())


def _fail(exc: FieldstreamError) -> NoReturn:
    Console(stderr=True).print(f"[red]{exc}[/red]")
    raise typer.Exit(1)


@quality_app.command("list")
def list_command(
    org: Annotated[str | None, typer.Option(help="one org")] = None,
    campaign: Annotated[str | None, typer.Option(help="one campaign")] = None,
    status: Annotated[str | None, typer.Option(help="pending, approved or voided")] = None,
) -> None:
    """Flagged shifts, newest first, with the checks that fired and whether their work is held
    out of the counts."""
    from fieldstream.quality import list_flags

    try:
        flags = list_flags(_store(), org=org, campaign=campaign, status=status)
    except FieldstreamError as exc:
        _fail(exc)
    table = Table("flag", "org/campaign", "channel", "canvasser", "shift (UTC)", "contacts",
                  "checks fired", "status", "held")  # fmt: skip
    for f in flags:
        span = f"{str(f['first_contact_at'])[:16]} - {str(f['last_contact_at'])[11:16]}"
        table.add_row(f["flag_id"], f"{f['org_id']}/{f['campaign_id']}", f["channel"],
                      f["canvasser_id"], span, str(f["contacts"]), ", ".join(f["checks_fired"]),
                      f["status"], "yes" if f["held"] else "no")  # fmt: skip
    console.print(table)
    console.print(f"{len(flags)} flags")


@quality_app.command("show")
def show_command(flag_id: Annotated[str, typer.Argument(help="the flag's id")]) -> None:
    """One flag with its evidence: every check that fired, its figure, threshold and numbers."""
    from fieldstream.quality import show_flag

    try:
        flag = show_flag(_store(), flag_id)
    except FieldstreamError as exc:
        _fail(exc)
    console.print_json(json.dumps(flag, default=str))


def _review(flag_id: str, decision: str, by: str, note: str) -> None:
    from fieldstream.quality import review

    try:
        flag = review(_store(), flag_id, decision, by, note)
    except FieldstreamError as exc:
        _fail(exc)
    console.print(f"flag {flag['flag_id']}: {flag['status']} by {flag['reviewer']}")


@quality_app.command("approve")
def approve_command(
    flag_id: Annotated[str, typer.Argument(help="the flag's id")],
    by: Annotated[str, typer.Option("--by", help="who decides")],
    note: Annotated[str, typer.Option(help="why, in a few words")] = "",
) -> None:
    """The shift's work is genuine: it counts toward goals and coverage again."""
    _review(flag_id, "approve", by, note)


@quality_app.command("void")
def void_command(
    flag_id: Annotated[str, typer.Argument(help="the flag's id")],
    by: Annotated[str, typer.Option("--by", help="who decides")],
    note: Annotated[str, typer.Option(help="why, in a few words")] = "",
) -> None:
    """The shift's work is not genuine: it stays out of goal and coverage counts."""
    _review(flag_id, "void", by, note)
