"""``fieldstream exchange ...``: the data exchange's audit export, coalition aggregates, and our
universes' pseudonyms (docs/exchange.md). The agent itself runs as ``python -m
streams.exchange``."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fieldstream.cli_common import cli_settings

exchange_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console(stderr=True)


def parse_when(value: str, name: str) -> dt.datetime:
    """``2026-10-01`` (midnight UTC) or an ISO time with a zone; BadParameter otherwise (the
    agreements' own rules: streams.exchange.agreements)."""
    from streams.exchange.agreements import aware_utc, midnight_utc

    try:
        at = midnight_utc(value) if len(value) == 10 else value  # export reads len 10 as a day
        if isinstance(at, str):
            at = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{name}: not a date or an ISO time: {value!r}") from None
    try:
        return aware_utc(at)
    except ValueError as exc:
        raise typer.BadParameter(f"{name}: {exc}") from None


@exchange_app.command("export")
def export(
    partner: Annotated[str, typer.Option(help="the partner, as agreements name it")],
    out: Annotated[Path, typer.Option(help="the CSV file to write")],
    start: Annotated[str, typer.Option("--from", help="first day or time (inclusive)")],
    end: Annotated[str, typer.Option("--to", help="last day (inclusive) or time (exclusive)")],
) -> None:
    """Every record shared with PARTNER in a period, with the agreement (id + version) that
    allowed it and our event it came from."""
    from fieldstream.exchange_audit import export_audit
    from sinks.remote import connect_store

    first = parse_when(start, "--from")
    last = parse_when(end, "--to")
    if len(end) == 10:
        last += dt.timedelta(days=1)  # a day given as --to is included whole
    if last <= first:
        raise typer.BadParameter("--to must be after --from")
    store = connect_store(cli_settings())
    try:
        n = export_audit(store, partner, first, last, out)
    finally:
        store.close()
    console.print(f"{n} records shared with {partner} written to {out}")


@exchange_app.command("aggregates")
def aggregates(
    start: Annotated[str | None, typer.Option("--from", help="first day or time")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day or time (exclusive)")] = None,
    dimension: Annotated[str | None, typer.Option(help="one dimension only")] = None,
    out: Annotated[Path | None, typer.Option(help="write CSV here (default: stdout)")] = None,
) -> None:
    """People reached by the coalition by precinct, county, district and demographic group,
    groups under sharing.min_group_size suppressed (with complementary suppression)."""
    from fieldstream.exchange_audit import coalition_aggregates
    from sinks.remote import connect_store

    settings = cli_settings()
    first = parse_when(start, "--from") if start else None
    last = parse_when(end, "--to") if end else None
    store = connect_store(settings)
    try:
        shared = coalition_aggregates(store, settings.sharing.min_group_size, first, last)
    finally:
        store.close()
    columns = ["dimension", "parent", "value", "source", "people", "contacted", "suppressed"]
    rows = [r for r in shared.rows if dimension is None or r["dimension"] == dimension]
    target = out.open("w", newline="", encoding="utf-8") if out else nullcontext(sys.stdout)
    with target as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r[c] is None else r[c] for c in columns])
    suppressed = sum(1 for r in rows if r["suppressed"])
    console.print(f"{len(rows)} groups, {suppressed} suppressed")


@exchange_app.command("pseudonymise")
def pseudonymise() -> None:
    """Our current universes' voters as pseudonyms under every exchange key, for coalition
    coverage (run after each universe load and each key rotation)."""
    from core.kafka import producer_config
    from fieldstream.exchange_audit import publish_pseudonyms
    from schemas.registry import codec_for
    from sinks.remote import connect_store
    from streams.exchange.pseudonym import load_keys

    settings = cli_settings()
    ex = settings.exchange
    if not ex.our_partner_id:
        raise typer.BadParameter("set FIELDSTREAM_EXCHANGE__OUR_PARTNER_ID (exchange settings)")
    keys = load_keys(ex.keys_file)
    store = connect_store(settings)
    try:
        n = publish_pseudonyms(
            store,
            producer_config(settings.kafka),
            ex.topic(ex.pseudonyms_topic),
            keys,
            codec_for(settings.kafka.schema_registry_url),
        )
    finally:
        store.close()
    console.print(f"{n} pseudonyms sent ({len(keys.keys)} keys)")
