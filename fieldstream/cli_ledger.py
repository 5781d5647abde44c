"""``fieldstream void``, ``unvoid``, ``corrections`` and ``verify``: corrections and the recount.

A void or unvoid is a Correction record (schemas/corrections.py) produced to
``contacts.corrections``; the sink stores it and its ledger keeper applies it. The command
waits (``--wait``, default on) until the store shows it applied and says how many contacts it
now voids. Times without a zone are read on the campaign's clock (programs.yaml).
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from core.errors import FieldstreamError, InputError
from core.settings import Settings
from fieldstream.cli_common import cli_settings

console = Console(stderr=True)

Org = Annotated[str, typer.Option("--org", help="the org whose contacts are corrected")]
Campaign = Annotated[str | None, typer.Option("--campaign", help="only this campaign")]
EventIds = Annotated[list[str] | None, typer.Option("--event-id", help="an event id; repeat")]
EventsFile = Annotated[Path | None, typer.Option(help="a file of event ids, one a line")]
Canvasser = Annotated[str | None, typer.Option("--canvasser", help="a canvasser id (with times)")]
Source = Annotated[str | None, typer.Option("--source", help="a tool (source_system, with times)")]
ImportRun = Annotated[str | None, typer.Option(help="an import run (fieldstream import prints it)")]
From = Annotated[
    dt.datetime | None, typer.Option("--from", help="start (no zone: the campaign's clock)")
]
To = Annotated[dt.datetime | None, typer.Option("--to", help="end, excluded")]
Reason = Annotated[str, typer.Option(help="why: shown beside the voided contacts")]
By = Annotated[str | None, typer.Option("--by", help="who asks (default: your login)")]
Wait = Annotated[bool, typer.Option(help="wait until the store applied it")]


def _zone(settings: Settings, org: str, campaign: str | None) -> ZoneInfo:
    from core.config import load_programs

    try:
        programs = load_programs(settings.stream.programs_file)
    except FieldstreamError:
        from core.config import DEFAULT_TIMEZONE

        return ZoneInfo(DEFAULT_TIMEZONE)
    if campaign:
        return ZoneInfo(programs.zone_of(org, campaign))
    return ZoneInfo(programs.org_zones.get(org) or programs.default_zone)


def _aware(t: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=zone)


def _ids(event_id: list[str] | None, events_file: Path | None) -> list[str]:
    ids = list(event_id or [])
    if events_file is not None:
        try:
            text = events_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {events_file}: {exc}") from exc
        ids += [line.strip() for line in text.splitlines() if line.strip()]
    return ids


def send(settings: Settings, record: dict[str, Any]) -> None:
    """Produce one Correction to the corrections topic (acked before it returns)."""
    from core.kafka import ensure_topics, producer_config
    from core.producer import KafkaWriter
    from schemas import CORRECTION
    from schemas.registry import codec_for

    ensure_topics(settings.kafka)
    writer = KafkaWriter(producer_config(settings.kafka))
    try:
        value = codec_for(settings.kafka.schema_registry_url).encode(CORRECTION, record)
        writer.send(settings.kafka.topics.corrections, record["org_id"].encode(), value)
        writer.flush(30, "corrections")
    finally:
        writer.close()


def wait_applied(settings: Settings, correction_id: str, timeout_s: float = 120.0) -> int | None:
    """How many contacts the correction voids once the store applied it (None: not in time)."""
    from sinks.remote import HttpSinkAccess, connect_store
    from sinks.sql import string_literal

    store = connect_store(settings)
    if settings.clickhouse.dsn.get_secret_value().startswith("chdb://") and not isinstance(
        store, HttpSinkAccess
    ):
        store.close()  # no sink owns the store: nothing applies corrections until one runs
        return None
    key, ref = string_literal(f"correction:{correction_id}"), string_literal(correction_id)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            _, rows = store.query(f"SELECT count() FROM keeper_state WHERE key = {key}")
            if rows and int(rows[0][0]):
                _, voided = store.query(
                    "SELECT count() FROM contact_suppressions FINAL "
                    f"WHERE kind = 'void' AND active = 1 AND ref = {ref}"
                )
                return int(voided[0][0]) if voided else 0
            time.sleep(0.5)
    finally:
        store.close()
    return None


def correct(
    action: str,
    org: str,
    campaign: str | None,
    ids: list[str],
    canvasser: str | None,
    source: str | None,
    import_run: str | None,
    time_from: dt.datetime | None,
    time_to: dt.datetime | None,
    undo: str | None,
    reason: str,
    by: str | None,
    wait: bool,
) -> None:
    from schemas.corrections import Selector, correction

    settings = cli_settings()
    zone = _zone(settings, org, campaign)
    selector = Selector(
        campaign_id=campaign,
        event_ids=ids,
        canvasser_id=canvasser,
        source_system=source,
        import_run=import_run,
        time_from=_aware(time_from, zone),
        time_to=_aware(time_to, zone),
        undo=undo,
    )
    built = correction(action, org, selector, reason=reason, requested_by=by or getpass.getuser())
    if built.record is None:
        raise InputError("the correction is refused:\n  " + "\n  ".join(built.problems))
    send(settings, built.record)
    cid = built.record["correction_id"]
    console.print(f"sent {action} {cid}")
    if not wait:
        return
    voided = wait_applied(settings, cid)
    if voided is None:
        console.print(
            "[yellow]not applied yet[/yellow]: it is on Kafka; the sink applies it when it "
            "runs (fieldstream corrections shows it then)"
        )
    elif action == "void":
        console.print(
            f"applied: it voids {voided:,} contact(s); undo: fieldstream unvoid "
            f"--org {org} --undo {cid} --reason ..."
        )
    else:
        console.print("applied: the contacts it covers count again")


def void_cmd(
    org: Org,
    reason: Reason,
    campaign: Campaign = None,
    event_id: EventIds = None,
    events_file: EventsFile = None,
    canvasser: Canvasser = None,
    source: Source = None,
    import_run: ImportRun = None,
    time_from: From = None,
    time_to: To = None,
    by: By = None,
    wait: Wait = True,
) -> None:
    """Void contacts: by event ids, an import run, or a time range with a canvasser and/or a
    source. They drop out of every count and are retracted from exchange partners."""
    correct(
        "void", org, campaign, _ids(event_id, events_file), canvasser, source, import_run,
        time_from, time_to, None, reason, by, wait,
    )  # fmt: skip


def unvoid_cmd(
    org: Org,
    reason: Reason,
    undo: Annotated[str | None, typer.Option(help="the void correction to undo")] = None,
    campaign: Campaign = None,
    event_id: EventIds = None,
    events_file: EventsFile = None,
    canvasser: Canvasser = None,
    source: Source = None,
    import_run: ImportRun = None,
    time_from: From = None,
    time_to: To = None,
    by: By = None,
    wait: Wait = True,
) -> None:
    """Count voided contacts again: undo a void by its id, or name contacts as void does."""
    correct(
        "unvoid", org, campaign, _ids(event_id, events_file), canvasser, source, import_run,
        time_from, time_to, undo, reason, by, wait,
    )  # fmt: skip


def corrections_cmd(
    org: Annotated[str | None, typer.Option("--org", help="only this org")] = None,
) -> None:
    """Every correction, with how many contacts each voids now."""
    from sinks.remote import connect_store
    from sinks.sql import string_literal

    where = f"WHERE c.org_id = {string_literal(org)}" if org else ""
    store = connect_store(cli_settings())
    try:
        _columns, rows = store.query(
            "SELECT c.requested_at, c.correction_id, toString(c.org_id), toString(c.action), "
            "c.undo, c.reason, c.requested_by, coalesce(v.n, 0) AS voids_now "
            "FROM corrections AS c FINAL LEFT JOIN (SELECT ref, countIf(active = 1) AS n "
            "FROM contact_suppressions FINAL WHERE kind = 'void' GROUP BY ref) AS v "
            f"ON v.ref = c.correction_id {where} ORDER BY c.requested_at"
        )
    finally:
        store.close()
    table = Table("requested", "correction", "org", "action", "undoes", "reason", "by", "voids now")
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    Console().print(table)


def verify_cmd(
    repair: Annotated[bool, typer.Option(help="recount the cells that differ")] = False,
    since: Annotated[
        dt.datetime | None, typer.Option(help="only local days from this date (default: all)")
    ] = None,
) -> None:
    """Recount every figure the boards read from contact_events and say what differs."""
    import httpx

    from sinks.remote import HttpSinkAccess, connect_store

    settings = cli_settings()
    store = connect_store(settings)
    day = since.date() if since is not None else None
    try:
        if isinstance(store, HttpSinkAccess):  # chDB owned by the sink: it runs the recount
            params = {"repair": "1" if repair else "0"}
            if day is not None:
                params["since"] = day.isoformat()
            try:
                resp = store.http.post("/verify", params=params, timeout=3600)
            except httpx.HTTPError as exc:
                raise FieldstreamError(f"the sink did not answer: {exc}") from exc
            body = resp.json()
            if resp.status_code != 200:
                raise FieldstreamError(body.get("error", resp.text))
            lines, differences = body["lines"], int(body["differences"])
        else:
            from sinks.keeper import Keeper
            from sinks.verify import verify
            from sinks.zones import ProgramClock

            direct = store.store  # type: ignore[attr-defined]
            clock = ProgramClock(settings.stream.programs_file)
            Keeper(direct, clock).start_up()
            report = verify(direct, clock.zone_of, repair=repair, since=day)
            lines, differences = list(report.lines()), report.total
    finally:
        store.close()
    for line in lines:
        print(line)
    if differences and not repair:
        raise typer.Exit(1)
