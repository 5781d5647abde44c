"""``fieldstream writeback ...``: what the write-back to VAN did, and what a person decides.

``status`` counts the ledger by org, source and state and lists the uncertain contacts (a
request that may have reached VAN: a timeout, a dropped connection, a crash mid-send);
``retry`` sends named (or all) uncertain or rejected contacts again; ``skip`` marks them done
without sending. The ledger is read and written directly; the running write-back sees the
change on its next pass.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fieldstream.cli_common import cli_settings
from sinks.writeback.ledger import Ledger

writeback_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console()

Events = Annotated[list[str] | None, typer.Argument(help="event ids (default: every one)")]
States = Annotated[
    str, typer.Option(help="states to act on, comma separated: uncertain, rejected, skipped")
]


def _ledger() -> Ledger:
    path = cli_settings().writeback.ledger_file
    if not path.exists():
        raise typer.BadParameter(f"no write-back ledger at {path}: no org has written back yet")
    return Ledger(path)


@writeback_app.command()
def status(limit: Annotated[int, typer.Option(help="uncertain rows to list")] = 20) -> None:
    """Contacts by org, source and state ("in VAN" = posted or passed), and the uncertain ones."""
    ledger = _ledger()
    table = Table("org", "source", "in VAN", "of", "pending", "uncertain", "rejected", "skipped")
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for (org, source, state), n in ledger.counts().items():
        totals.setdefault((org, source), {})[state] = n
    for (org, source), by in sorted(totals.items()):
        in_van = by.get("posted", 0) + by.get("passed", 0)
        table.add_row(
            org, source, str(in_van), str(sum(by.values())),
            str(by.get("pending", 0) + by.get("sending", 0)), str(by.get("uncertain", 0)),
            str(by.get("rejected", 0)), str(by.get("skipped", 0)),
        )  # fmt: skip
    console.print(table)
    uncertain = ledger.entries("uncertain", limit)
    if uncertain:
        console.print("uncertain (check VAN's contact history, then retry or skip):")
        for e in uncertain:
            console.print(f"  {e.event_id} org={e.org_id} source={e.source} why={e.error_code}")


def _move(event_ids: list[str] | None, states: str, to: str) -> int:
    chosen = tuple(s.strip() for s in states.split(",") if s.strip())
    if not chosen or not set(chosen) <= {"uncertain", "rejected", "skipped"}:
        raise typer.BadParameter("states are uncertain, rejected and/or skipped")
    return _ledger().move(event_ids or None, chosen, to)


@writeback_app.command()
def retry(event_ids: Events = None, states: States = "uncertain") -> None:
    """Send these contacts to VAN again (only after checking VAN does not have them)."""
    console.print(f"{_move(event_ids, states, 'pending')} contact(s) will be sent again")


@writeback_app.command()
def skip(event_ids: Events = None, states: States = "uncertain") -> None:
    """Mark these contacts done without sending them (VAN has them, or should not)."""
    console.print(f"{_move(event_ids, states, 'skipped')} contact(s) skipped")
