"""``fieldstream dlq ...``: the contacts held back (dead letters), by source and reason; one of
them in full; and a replay of them through the maps as they are now (after you fixed a codes
file, a mapping or programs.yaml). A replay sends each contact again with the event id it had,
so running it twice changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from core.errors import ConfigError
from core.sealing import Sealer
from core.settings import Settings
from fieldstream.cli_common import cli_settings
from fieldstream.output import Format, print_rows

if TYPE_CHECKING:
    from fieldstream.dlq import Filters

dlq_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console(stderr=True)

Source = Annotated[
    str | None, typer.Option(help="a source id (sources.yaml), or import:<name> for an import")
]
Reason = Annotated[str | None, typer.Option(help="a reason code, e.g. unknown_survey_question")]
Org = Annotated[str | None, typer.Option(help="an org id")]
Since = Annotated[
    dt.datetime | None, typer.Option(help="held contacts that arrived at or after (UTC)")
]
Until = Annotated[dt.datetime | None, typer.Option(help="held contacts that arrived before (UTC)")]
FormatOption = Annotated[
    Format | None, typer.Option("--format", help="table (terminal default), tsv (piped) or json")
]


def _filters(
    source: str | None,
    reason: str | None,
    org: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> Filters:
    from fieldstream.dlq import Filters

    def utc(t: dt.datetime | None) -> dt.datetime | None:
        return t if t is None or t.tzinfo else t.replace(tzinfo=dt.UTC)

    return Filters(source, reason, org, utc(since), utc(until))


@dlq_app.command("list")
def list_cmd(
    source: Source = None,
    reason: Reason = None,
    org: Org = None,
    since: Since = None,
    until: Until = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="how many per source and reason, not each contact")
    ] = False,
    limit: Annotated[int, typer.Option(help="at most this many contacts listed")] = 1000,
    fmt: FormatOption = None,
) -> None:
    """Held contacts, oldest first: why each is held, and whether it is counted already (only
    its survey answers held) or held whole. --summary: how many per source and reason."""
    from fieldstream.dlq import list_sql, summary_sql
    from sinks.remote import connect_store

    filters = _filters(source, reason, org, since, until)
    store = connect_store(cli_settings())
    try:
        columns, rows = store.query(summary_sql(filters))
        whole = sum(int(r[2]) for r in rows)
        partial = sum(int(r[3]) for r in rows)
        console.print(
            f"{whole + partial} held contact(s): {whole} held whole, {partial} counted with "
            "survey answers held"
        )
        if summary:
            print_rows(columns, rows, fmt, title="held back, by source and reason")
            return
        columns, rows = store.query(list_sql(filters, limit))
        print_rows(columns, rows, fmt, title="held contacts")
    finally:
        store.close()


@dlq_app.command("show")
def show_cmd(
    held_key: Annotated[str, typer.Argument(help="a held_key from `fieldstream dlq list`")],
) -> None:
    """One held contact: why it is held, every letter of it, and what was kept of it (this may
    hold personal data: it is for your screen, not for sharing)."""
    from fieldstream.dlq import show_sql
    from sinks.remote import connect_store

    store = connect_store(cli_settings())
    try:
        contact_sql, letters_sql = show_sql(held_key)
        columns, rows = store.query(contact_sql)
        if not rows:
            console.print(f"{held_key} is not held (it landed, or there is no such contact)")
            raise typer.Exit(1)
        for name, value in zip(columns, rows[0], strict=True):
            print(f"{name}: {value}")
        columns, rows = store.query(letters_sql)
        for row in rows:
            letter = dict(zip(columns, row, strict=True))
            print(
                f"\n{letter['failed_at']}  {letter['stage']}  {letter['reason_code']}"
                f"  counted={letter['counted']}  from {letter['origin']}"
            )
            print(f"  {letter['reason']}")
            print(_kept(str(letter["original"] or "")))
    finally:
        store.close()


def _kept(encoded: str) -> str:
    """What a letter kept, as text: JSON pretty-printed; a stream's Avro event as its JSON."""
    import base64

    from schemas import CONTACT_EVENT, AvroCodec
    from schemas.jsonconv import record_json

    raw = base64.b64decode(encoded)
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    try:
        record = AvroCodec().decode(raw, expect=CONTACT_EVENT)[1]
        return json.dumps(record_json(record), indent=2, ensure_ascii=False)
    except Exception:
        return raw.decode("utf-8", "backslashreplace")


@dlq_app.command("replay")
def replay_cmd(
    source: Source = None,
    reason: Reason = None,
    org: Org = None,
    since: Since = None,
    until: Until = None,
    wait: Annotated[
        float, typer.Option(help="seconds to watch the store for where each contact went")
    ] = 60.0,
) -> None:
    """Send the held contacts (all, or those chosen) through the current sources.yaml, codes
    and mapping files and programs.yaml, with the event ids they had; then say which landed
    and which are still held, and why. Exits 1 when some are still held or refused."""
    from core.kafka import ensure_topics, producer_config
    from core.producer import KafkaWriter
    from fieldstream.dlq import held_letters, wait_for_store
    from producers.replay import Readmitter, replay
    from producers.tools.registry import read_sources
    from schemas.registry import codec_for
    from sinks.remote import connect_store

    settings = cli_settings()
    filters = _filters(source, reason, org, since, until)
    sources_file = settings.gateway.sources_file
    sources = read_sources(sources_file) if sources_file.exists() else {}
    store = connect_store(settings)
    try:
        letters = held_letters(store.query, filters, _sealer(settings))
        if not letters:
            console.print("nothing is held back: nothing to replay")
            return
        ensure_topics(settings.kafka)
        codec = codec_for(settings.kafka.schema_registry_url)
        writer = KafkaWriter(producer_config(settings.kafka))
        started_ms = int(time.time() * 1000)
        try:
            results = replay(
                letters, Readmitter(sources, settings.data_dir, codec), writer,
                settings.kafka.topics, started_ms,
            )  # fmt: skip
        finally:
            writer.close()
        console.print(f"replayed {len(results)} held contact(s); watching the store ...")
        report = wait_for_store(store.query, results, started_ms, wait)
    finally:
        store.close()
    print_rows(["outcome", "contacts"], report.rows(), title="replay")
    details = [[k, "counted; answers held", r] for k, r in report.counted_answers_held]
    details += [[k, "held", r] for k, r in report.still_held]
    details += [[r.held_key, r.status, r.detail] for r in report.not_sent]
    if details:
        print_rows(["held_key", "now", "why"], details, title="not landed complete")
    if not report.settled:
        console.print(
            f"[yellow]after {report.waited_s:.0f}s some contacts had not reached the store: is "
            "the stream running? `fieldstream dlq list` shows where they are[/yellow]"
        )
    if report.still_held or report.not_sent or not report.settled:
        raise typer.Exit(1)


def _sealer(settings: Settings) -> Sealer | None:
    """The dead letters' key (the sink made it), to open the kept payloads; None without one
    (then nothing stored was sealed)."""
    try:
        return Sealer.from_settings(settings.dead_letters)
    except ConfigError:
        return None
