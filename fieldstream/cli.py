"""The ``fieldstream`` command line: thin wiring from settings to the packages' functions.

Each command imports what it runs inside its own body: importing Faust, chDB, pyarrow and
matplotlib for every command would make ``fieldstream --help`` take seconds. The same holds
for the other ``cli_*`` modules."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.errors import FieldstreamError
from core.settings import Settings
from fieldstream.cli_common import cli_settings
from fieldstream.cli_dlq import dlq_app
from fieldstream.cli_effects import (
    HOLDOUT,
    HOLDOUT_SEED,
    STRATIFY,
    export_universe_cmd,
    holdout_plan,
    load_vote_history_cmd,
    load_with_holdout,
    model_app,
)
from fieldstream.cli_exchange import exchange_app
from fieldstream.cli_import import import_app
from fieldstream.cli_ledger import corrections_cmd, unvoid_cmd, verify_cmd, void_cmd
from fieldstream.cli_quality import quality_app
from fieldstream.cli_tokens import tokens_app
from fieldstream.cli_van import van_app
from fieldstream.cli_writeback import writeback_app
from fieldstream.output import Format, print_rows

app = typer.Typer(
    help="fieldstream: real-time voter contacts (gateway -> Kafka -> stream -> ClickHouse).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
app.add_typer(import_app, name="import")
app.add_typer(exchange_app, name="exchange")
app.command("void")(void_cmd)
app.command("unvoid")(unvoid_cmd)
app.command("corrections")(corrections_cmd)
app.command("verify")(verify_cmd)
app.add_typer(van_app, name="van")
app.add_typer(writeback_app, name="writeback")
app.add_typer(model_app, name="model")
app.add_typer(quality_app, name="quality")
app.add_typer(tokens_app, name="query-token")
app.add_typer(dlq_app, name="dlq")


def _demo_settings(settings: Settings) -> Settings:
    """Point the settings at the demo's generated programs and sources."""
    from producers.demo.state import generate_demo

    paths = generate_demo(settings.data_dir / "demo", seed=settings.simulator.seed)
    settings.stream.programs_file = paths.programs
    settings.gateway.sources_file = paths.sources
    return settings


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="load the demo state and run the simulator")] = False,
    rate: Annotated[float | None, typer.Option(help="simulator events/s (with --demo)")] = None,
    board: Annotated[bool, typer.Option(help="show the live board in this terminal")] = True,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="stream workers (and sink consumers) in one group over the partitions; "
            "see docs/scaling.md",
        ),
    ] = 1,
) -> None:
    """Start the embedded stack (Tansu, sink, stream, gateway); with --demo also load the demo
    data, run the simulator and show the live board. Ctrl-C stops everything."""
    from fieldstream.stack import Stack

    settings = cli_settings()
    if demo:
        settings = _demo_settings(settings)
    started = time.monotonic()
    # a closed terminal or `kill` stops the stack as cleanly as Ctrl-C does
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    with Stack(settings, settings.data_dir / "logs", workers=workers) as stack:
        console.print("starting Tansu and the sink ...")
        stack.start_core()
        if demo:
            _load_demo(settings)
        console.print(f"starting {workers} stream worker(s) and the gateway ...")
        stack.start_pipeline()
        console.print(
            f"[green]up[/green]: gateway http://{settings.gateway.host}:{settings.gateway.port}"
            f'/v1/events, SQL: fieldstream sql "...", logs in {settings.data_dir / "logs"}'
        )
        if demo:
            stack.spawn_simulator(rate or settings.simulator.rate, None)
            stack.spawn_backfill()  # weeks of history beside the live traffic, once
        _watch(stack, settings, board, duration, started)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _load_demo(settings: Settings) -> None:
    from producers.demo.state import generate_demo
    from producers.voterfile import load_voters
    from sinks.loaders import load_goals, load_universe
    from sinks.remote import connect_store

    paths = generate_demo(settings.data_dir / "demo", seed=settings.simulator.seed)
    store = connect_store(settings)
    goals = load_goals(store, paths.goals)
    universe = sum(load_universe(store, p) for p in paths.universes)
    console.print(f"loaded {goals} goals and {universe} universe rows")
    summary = load_voters(paths.voters, paths.voters_mapping, settings.kafka, progress=True)
    console.print(f"loaded voters: {summary}")
    from producers.tools.mobilize.export import import_export

    for (org, campaign), export in paths.shifts.items():
        shifts = import_export(
            export, settings.kafka, org_id=org, campaign_id=campaign, restart=True
        )
        console.print(f"loaded demo shifts: {shifts}")


def _watch(
    stack: object, settings: Settings, board: bool, duration: float | None, started: float
) -> None:
    from fieldstream.stack import Stack

    assert isinstance(stack, Stack)
    deadline = None if duration is None else started + duration
    try:
        if board:
            from fieldstream.board import run_board
            from sinks.remote import connect_store

            run_board(
                connect_store(settings).query,
                until=deadline,
                alive=stack.supervise,
                dashboards=settings.dashboards_dir,
            )
            if deadline is None or time.monotonic() < deadline:
                raise FieldstreamError("a service keeps dying; the stack stopped (see its log)")
        else:
            while deadline is None or time.monotonic() < deadline:
                given_up = stack.supervise()
                if given_up:
                    raise FieldstreamError(
                        f"{given_up[0].name} keeps dying; stopping (see {given_up[0].log_path})"
                    )
                time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping ...")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="a read-only SQL query")],
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format", help="table (default on a terminal), tsv (default when piped) or json"
        ),
    ] = None,
) -> None:
    """Run SQL against the store (through the running sink when it owns chDB). Nothing is cut
    short: a table's cells wrap in a narrow terminal, and piped output is tab-separated."""
    from sinks.remote import connect_store

    store = connect_store(cli_settings())
    try:
        columns, rows = store.query(query)
    finally:
        store.close()
    print_rows(columns, rows, fmt)


@app.command("do-not-contact")
def do_not_contact_cmd(
    org: Annotated[str, typer.Option(help="the org whose list it is")],
    channel: Annotated[
        str | None, typer.Option(help="text, phone, door, email or mail (default: every one)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, json (lines) or table")] = "csv",
    out: Annotated[Path | None, typer.Option(help="write to this file (default: stdout)")] = None,
) -> None:
    """Who opted out (the do_not_contact view): the list a texting or calling tool suppresses,
    with the ids and phone number each opt-out named."""
    from fieldstream.do_not_contact import CHANNELS, FORMATS, list_sql, render
    from sinks.remote import connect_store

    if channel is not None and channel not in CHANNELS:
        raise typer.BadParameter(f"--channel must be one of {', '.join(CHANNELS)}")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    _, rows = connect_store(cli_settings()).query(list_sql(org, channel))
    text = render(rows, fmt)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {len(rows)} opt-out(s) to {out}")


@app.command()
def migrate() -> None:
    """Apply the ClickHouse DDL (sinks/ddl) to the configured store."""
    from sinks.migrate import migrate as run_migrate
    from sinks.store import open_store

    settings = cli_settings()
    applied = run_migrate(open_store(settings.clickhouse.dsn.get_secret_value()))
    console.print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


@app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Option(help="the HTML file to write")] = Path("report.html"),
    org: Annotated[str | None, typer.Option(help="org_id (default: the boards' first)")] = None,
    campaign: Annotated[
        str | None, typer.Option(help="campaign_id (default: the boards' first)")
    ] = None,
    time_from: Annotated[
        dt.datetime | None,
        typer.Option("--from", help="start, UTC (default: each board's own range)"),
    ] = None,
    time_to: Annotated[
        dt.datetime | None, typer.Option("--to", help="end, UTC (default: now)")
    ] = None,
    png: Annotated[Path | None, typer.Option(help="also render this PNG (needs Chromium)")] = None,
) -> None:
    """A self-contained HTML report of the Grafana boards' queries, small groups suppressed."""
    from fieldstream.report import write_report
    from sinks.remote import connect_store

    def utc(t: dt.datetime | None) -> dt.datetime | None:
        return t if t is None or t.tzinfo else t.replace(tzinfo=dt.UTC)

    settings = cli_settings()
    store = connect_store(settings)
    try:
        report = write_report(
            store.query,
            out,
            k=settings.sharing.min_group_size,
            dashboards=settings.dashboards_dir,
            org=org,
            campaign=campaign,
            time_from=utc(time_from),
            time_to=utc(time_to),
        )
    finally:
        store.close()
    console.print(f"wrote {out} ({report.org} / {report.campaign})")
    if png is not None:
        from fieldstream.report_png import render_png

        console.print(f"wrote {render_png(out, png)}")


@app.command()
def policies(
    org: Annotated[list[str], typer.Option(help="an org whose analysts get a role; repeat")],
    service_user: Annotated[
        list[str], typer.Option(help="fieldstream's own ClickHouse users (see everything)")
    ],
    analyst: Annotated[str | None, typer.Option(help="also create this analyst user")] = None,
    password_sha256: Annotated[
        str | None, typer.Option(help="the analyst's password, as SHA-256 hex")
    ] = None,
    database: str = "default",
    apply: Annotated[bool, typer.Option(help="run them (ClickHouse server only)")] = False,
) -> None:
    """Row policies so an org's analysts see only that org's rows (printed; --apply runs them)."""
    from sinks.policies import analyst_statements, org_tables, policy_statements
    from sinks.policies import apply as run
    from sinks.store import open_store

    client = open_store(cli_settings().clickhouse.dsn.get_secret_value())
    statements = policy_statements(org_tables(client, database), org, service_user, database)
    if analyst:
        if len(org) != 1 or not password_sha256:
            raise typer.BadParameter("an analyst needs exactly one --org and --password-sha256")
        statements += analyst_statements(org[0], analyst, password_sha256)
    if apply:
        run(client, statements)
        console.print(f"applied {len(statements)} statements")
    else:
        print(";\n".join(statements) + ";")


@app.command("load-voters")
def load_voters_cmd(
    file: Path,
    mapping: Annotated[Path | None, typer.Option(help="column mapping YAML")] = None,
    preset: Annotated[
        str | None, typer.Option(help="l2, targetsmart or nc (producers/voterfile_presets)")
    ] = None,
    state: Annotated[str | None, typer.Option(help="two-letter state for files with none")] = None,
    bisg: Annotated[
        bool, typer.Option(help="fill race/ethnicity no source gives by BISG (surname + zip)")
    ] = True,
    skip_bad: Annotated[
        bool, typer.Option(help="send good rows, write rejects beside the file")
    ] = False,
) -> None:
    """Load a voter file (CSV or Parquet) onto the voters topic; the sink fills the voters
    table from it and every stream worker its voter store."""
    from producers.voterfile import load_voters

    settings = cli_settings()
    summary = load_voters(
        file,
        mapping,
        settings.kafka,
        preset=preset,
        state=state,
        bisg=bisg,
        progress=True,
        skip_bad=skip_bad,
    )
    console.print(str(summary))


@app.command("load-goals")
def load_goals_cmd(file: Path) -> None:
    """Load weekly goals (YAML or CSV: org_id, campaign_id, week, metric, target)."""
    from sinks.loaders import load_goals
    from sinks.remote import connect_store

    n = load_goals(connect_store(cli_settings()), file)
    console.print(f"loaded {n} goals")


@app.command("load-universe")
def load_universe_cmd(
    file: Annotated[
        Path | None,
        typer.Argument(help="CSV: org_id, campaign_id, state, voter_id[, turf_id][, channel]"),
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="org_id (with --where)")] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="campaign_id (with --where)")
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(help="condition on the voters table, e.g. \"county = 'Erie' AND age >= 18\""),
    ] = None,
    holdout: HOLDOUT = None,
    seed: HOLDOUT_SEED = None,
    stratify: STRATIFY = "",
) -> None:
    """Load a universe from a CSV file, or from the voters table with --org, --campaign and
    --where. A load replaces the universe of each org/campaign it names. With --holdout, a
    random share of each campaign's universe is held out (never to be contacted) to measure
    the program's effect after the election (docs/effects.md)."""
    from sinks.loaders import load_universe, load_universe_where
    from sinks.remote import connect_store

    if (file is None) == (where is None):
        raise FieldstreamError("give either a CSV file or --where (with --org and --campaign)")
    if where is not None and (org is None or campaign is None):
        raise FieldstreamError("--where needs --org and --campaign")
    plan = holdout_plan(holdout, seed, stratify)
    store = connect_store(cli_settings())
    try:
        if plan is not None:
            console.print(f"loaded {load_with_holdout(store, file, org, campaign, where, plan)}")
            return
        if file is not None:
            n = load_universe(store, file)
        else:
            assert org is not None and campaign is not None and where is not None
            n = load_universe_where(store, org, campaign, where)
    finally:
        store.close()
    console.print(f"loaded {n} universe rows")


app.command("load-vote-history")(load_vote_history_cmd)
app.command("export-universe")(export_universe_cmd)


@app.command()
def backfill(
    weeks: Annotated[int, typer.Option(min=1, max=12, help="weeks of history")] = 4,
    force: Annotated[bool, typer.Option(help="send it even if the store holds history")] = False,
) -> None:
    """Give the demo program a past: WEEKS weeks of contacts at its goals' rates, imported
    through the bulk lane (validated, enriched and stored like any import). Sent once: a
    store that holds history already gets none unless --force."""
    from producers.demo.backfill import SOURCE, run_backfill
    from sinks.remote import connect_store

    settings = _demo_settings(cli_settings())
    if not force:
        store = connect_store(settings)
        try:
            _, rows = store.query(
                f"SELECT count() FROM contact_events WHERE source_system = '{SOURCE}'"
            )
        finally:
            store.close()
        if rows and int(rows[0][0]) > 0:
            console.print(f"the store holds {int(rows[0][0])} history events already")
            return
    sent = run_backfill(settings, weeks)
    console.print(f"backfill: {sent} events of {weeks} weeks imported")


@app.command()
def simulate(
    rate: Annotated[float | None, typer.Option(help="events per second")] = None,
    duration: Annotated[float | None, typer.Option(help="seconds; default: until Ctrl-C")] = None,
    demo: Annotated[bool, typer.Option(help="use the demo state's sources and voters")] = True,
) -> None:
    """Send realistic door, phone and text events (with a share of bad ones) to the gateway."""
    from producers.demo.sender import run_simulator

    settings = cli_settings()
    if demo:
        settings = _demo_settings(settings)
    run_simulator(settings, rate=rate, duration_s=duration)


@app.command("board")
def board_cmd(
    org: Annotated[str | None, typer.Option(help="org_id (default: every org)")] = None,
    campaign: Annotated[
        str | None, typer.Option(help="campaign_id (default: every campaign of the org)")
    ] = None,
) -> None:
    """The live terminal board: the Grafana boards' goal, channel, reach and coverage panels
    for every org/campaign (or the one chosen), for program staff (small groups shown)."""
    from fieldstream.board import run_board
    from sinks.remote import connect_store

    settings = cli_settings()
    run_board(
        connect_store(settings).query,
        org=org,
        campaign=campaign,
        dashboards=settings.dashboards_dir,
    )


@app.command()
def topics() -> None:
    """Create the pipeline's Kafka topics if they are missing."""
    from core.kafka import ensure_topics

    created = ensure_topics(cli_settings().kafka)
    console.print(f"created: {', '.join(created) or 'nothing (all exist)'}")


@app.command()
def docs(out: Annotated[Path, typer.Option(help="the docs directory")] = Path("docs")) -> None:
    """Generate the data dictionary (from the Avro schemas) and the result-code maps (from
    the adapters' code maps)."""
    from producers.tools.docgen import write_result_codes
    from schemas.docgen import write_data_dictionary

    write_data_dictionary(out / "data-standard.md")
    write_result_codes(out / "result-codes.md")
    console.print(f"wrote {out / 'data-standard.md'} and {out / 'result-codes.md'}")


def main() -> None:
    try:
        app()
    except FieldstreamError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("stopped")
        sys.exit(130)


if __name__ == "__main__":
    main()
