"""The demo store the board tests read: the demo voter file, goals, universes (cut into precinct
turfs) and ten days of simulated field traffic, each event through the real path (ContactJson,
process_batch, the sink's rows), a quarter of it redelivered; the demo's volunteer shifts (the
Mobilize export through its adapter, the converter and the sink's rows, re-read once); a day of
canvassing shifts with dishonest ones and the quality flags they raise; and the recount of its
measures."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.config import load_programs
from producers.demo.cheats import canvass_day
from producers.demo.shifts import attendances
from producers.demo.simulator import generate_events, read_world
from producers.demo.state import generate_demo
from producers.tools.base import AdapterContext, Shift
from producers.tools.mobilize import shifts as mobilize
from producers.voterfile.load import read_voters
from schemas import CONTACT_EVENT, VOTER, AvroCodec
from schemas.ids import voter_key
from schemas.jsonconv import ContactJson
from schemas.recordjson import VOLUNTEER_SHIFT, RecordJson
from sinks import rows as sr
from sinks.keeper import Keeper
from sinks.loaders import load_goals, load_universe
from sinks.migrate import migrate
from sinks.people_rows import SHIFT_COLUMNS, shift_row
from sinks.quality_rows import QUALITY_FLAG_COLUMNS, flag_row
from sinks.remote import DirectAccess
from sinks.store import LockedStore, open_store
from sinks.zones import ProgramClock
from streams.logic.process import DLQ, ENRICHED, Context, process_batch
from streams.quality import QualityMonitor, obs_from_enriched
from streams.quality.records import flag_record

TODAY = dt.date(2026, 11, 4)  # a Wednesday
# when the demo's shift states were received: the end of TODAY (the standard takes no time
# more than a day after its receipt, nor before 2000)
RECEIVED_MS = int(dt.datetime.combine(TODAY, dt.time(23, 59), dt.UTC).timestamp() * 1000)
TIME_FROM = dt.datetime(2026, 10, 28, tzinfo=dt.UTC)
TIME_TO = dt.datetime(2026, 11, 4, 15, tzinfo=dt.UTC)
INTERVAL = dt.timedelta(hours=1)
ORG, CAMPAIGN, K = "demo-org", "gotv-2026", 11
Row = dict[str, Any]


@dataclass
class Demo:
    store: LockedStore
    events: list[Row]  # contact_events rows as dicts, as inserted
    goals: list[dict[str, str]]
    universe: dict[tuple[str, str], dict[tuple[str, str], str]]  # (org, campaign) -> voter: turf
    keeper: Keeper
    zone: str  # the demo campaign's clock
    shifts: list[Row] = field(default_factory=list)  # volunteer_shifts rows as dicts

    def settle(self) -> None:
        """Let the ledger keeper finalise everything stored (what the sink's thread does)."""
        self.keeper.universes_at = 0.0
        self.keeper.last_forecast = 0.0
        self.keeper.run_pass(TIME_TO)


def chunks() -> Iterator[dt.datetime]:
    """Field hours: 9:00-19:00 from Monday 26 October to 14:00 on TODAY."""
    day = dt.datetime(2026, 10, 26, tzinfo=dt.UTC)
    while day.date() <= TODAY:
        for hour in range(9, 20):
            at = day.replace(hour=hour)
            if at <= TIME_TO - dt.timedelta(hours=1):
                yield at
        day += dt.timedelta(days=1)


def build(tmp: Path) -> Demo:
    paths = generate_demo(tmp / "demo", seed=7, today=TODAY)
    loaded = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    records = list(read_voters(paths.voters, paths.voters_mapping, now=loaded))
    voters = [v for v in records if isinstance(v, dict)]
    assert len(voters) == len(records) > 0
    codec, convert = AvroCodec(), ContactJson()
    stored = {voter_key(v["state"], v["voter_id"]): codec.encode(VOTER, v) for v in voters}
    clock = ProgramClock(paths.programs)
    seen: set[str] = set()
    ctx = Context.build(codec, load_programs(paths.programs), stored.get, seen.__contains__)
    rng = random.Random(11)
    world = read_world(paths.dir, rng)
    contacts, letters, offset = [], [], 0
    for now in chunks():
        messages = []
        for event, _kind in generate_events(world.voters, rng, 50, now, world=world):
            record, problems = convert.convert(event, int(now.timestamp() * 1000))
            if record is None:  # the gateway refuses it (4xx): it never reaches Kafka
                assert problems
                continue
            offset += 1
            messages.append((codec.encode(CONTACT_EVENT, record), None, "raw", 0, offset))
        result = process_batch(messages, ctx, now=int(now.timestamp() * 1000))
        seen.update(result.accepted_ids)
        for o in result.outcomes:
            assert o.value is not None or o.kind not in (ENRICHED, DLQ)
            if o.kind == ENRICHED:
                rec = codec.decode(o.value)[1]  # type: ignore[arg-type]
                c = rec["contact"]
                contacts.append(sr.contact_row(rec, clock.zone_of(c["org_id"], c["campaign_id"])))
            elif o.kind == DLQ:
                letters.append(sr.dead_letter_row(codec.decode(o.value)[1]))  # type: ignore[arg-type]
    # a day of shifts with dishonest ones among them, through the same path, and the flags the
    # quality monitor raises on every enriched contact (the Data quality board reads them)
    monitor, flags = QualityMonitor(), {}
    shift_day = canvass_day(
        [(ORG, CAMPAIGN)], lambda o, c: world.universes[(o, c)], rng, 0.3, TIME_TO
    )
    messages = []
    for event in shift_day:
        record, problems = convert.convert(event, int(TIME_TO.timestamp() * 1000))
        assert record is not None, problems
        offset += 1
        messages.append((codec.encode(CONTACT_EVENT, record), None, "raw", 0, offset))
    result = process_batch(messages, ctx, now=int(TIME_TO.timestamp() * 1000))
    for o in result.outcomes:
        if o.kind == ENRICHED:
            enriched = codec.decode(o.value)[1]  # type: ignore[arg-type]
            c = enriched["contact"]
            contacts.append(sr.contact_row(enriched, clock.zone_of(c["org_id"], c["campaign_id"])))
            obs = obs_from_enriched(enriched)
            for flag in monitor.observe(obs) if obs is not None else []:
                flags[flag.flag_id] = flag
    flag_rows = [flag_row(flag_record(f, quarantine=False)) for f in flags.values()]
    assert flag_rows, "the day of shifts raised no flag"
    store = LockedStore(open_store(f"chdb:///{tmp / 'chdb'}"))
    migrate(store.client)
    keeper = Keeper(store, clock, overlap_s=10 * 365 * 86400)
    keeper.start_up()
    store.insert("voters", sr.VOTER_COLUMNS, [sr.voter_row(v) for v in voters])
    store.insert("contact_events", sr.CONTACT_COLUMNS, contacts, "boards:0")
    store.insert("contact_events", sr.CONTACT_COLUMNS, contacts[::4], "boards:1")  # redelivered
    store.insert("dead_letters", sr.DEAD_LETTER_COLUMNS, letters, "boards:dlq")
    store.insert("van_writeback", sr.WRITEBACK_COLUMNS, writeback_states(contacts), "boards:wb")
    store.insert("quality_flags", QUALITY_FLAG_COLUMNS, flag_rows, "boards:flags")
    access = DirectAccess(store)
    load_goals(access, paths.goals)
    turf_of = {v["voter_id"]: f"turf-{v['precinct']}" for v in voters}
    universe: dict[tuple[str, str], dict[tuple[str, str], str]] = defaultdict(dict)
    for path in paths.universes:  # the demo's universes, cut into precinct turfs
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            r["turf_id"] = turf_of[r["voter_id"]]
            universe[(r["org_id"], r["campaign_id"])][(r["state"], r["voter_id"])] = r["turf_id"]
        with_turfs = tmp / f"turfs-{path.name}"
        with with_turfs.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        load_universe(access, with_turfs)
    with paths.goals.open(newline="") as f:
        goals = list(csv.DictReader(f))
    events = [dict(zip(sr.CONTACT_COLUMNS, r, strict=True)) for r in contacts]
    shifts = demo_shifts(codec)
    store.insert("volunteer_shifts", SHIFT_COLUMNS, shifts, "boards:shifts")
    store.insert("volunteer_shifts", SHIFT_COLUMNS, shifts[::3], "boards:shifts:again")
    rows = [dict(zip(SHIFT_COLUMNS, r, strict=True)) for r in shifts]
    demo = Demo(store, events, goals, dict(universe), keeper, clock.zone_of(ORG, CAMPAIGN), rows)
    demo.settle()
    return demo


def demo_shifts(codec: AvroCodec) -> list[list[Any]]:
    """volunteer_shifts rows of the demo org's Mobilize export, as the sink writes them."""
    ctx = AdapterContext("mobilize:demo", ORG, "mobilize", campaign_id=CAMPAIGN)
    converter = RecordJson(VOLUNTEER_SHIFT)
    out = []
    for attendance in attendances(ORG, TODAY, random.Random(5)):
        for item in mobilize.adapt(attendance, ctx):
            if isinstance(item, Shift):
                record, problems = converter.convert(item.record, RECEIVED_MS)
                assert record is not None, problems
                out.append(shift_row(codec.decode(codec.encode(VOLUNTEER_SHIFT, record))[1]))
    return out


WRITEBACK_STATES = ["posted"] * 7 + ["pending", "uncertain", "rejected"]


def writeback_states(contacts: list[list[Any]]) -> list[list[Any]]:
    """The write-back's latest state of each demo contact, as sinks/writeback publishes it."""
    out = []
    for i, row in enumerate(contacts):
        c = dict(zip(sr.CONTACT_COLUMNS, row, strict=True))
        state = WRITEBACK_STATES[i % len(WRITEBACK_STATES)]
        status = {"posted": 204, "rejected": 400}.get(state)
        code = "INVALID_PARAMETER" if state == "rejected" else None
        by = "van" if state == "rejected" else None
        out.append([
            c["event_id"], c["org_id"], c["source_system"], c["campaign_id"], state, 1, status,
            code, by, c["received_at"], c["received_at"], 2,
        ])  # fmt: skip
    return out


def monday(t: dt.datetime | dt.date, zone: str = "UTC") -> dt.date:
    """The Monday of the week holding ``t`` (a time: its day on ``zone``'s clock)."""
    day = t.astimezone(ZoneInfo(zone)).date() if isinstance(t, dt.datetime) else t
    return day - dt.timedelta(days=day.weekday())


def local(t: dt.datetime, zone: str) -> dt.date:
    return t.astimezone(ZoneInfo(zone)).date()


def measures(events: list[Row]) -> dict[str, int]:
    """The documented measures (docs/analytics.md), counted from rows."""
    sets: dict[str, set[Any]] = defaultdict(set)
    for e in events:
        texted = e["channel"] == "text" and e["result"] == "texted" and e["voter_id"]
        day = e["local_day"]
        sets["attempts"].add(
            (e["campaign_id"], day, e["state"], e["voter_id"]) if texted else e["event_id"]
        )
        if e["is_contact"]:
            sets["contacts"].add(e["event_id"])
            if e["voter_id"]:
                sets["people_reached"].add((e["state"], e["voter_id"]))
            if e["script_completed"] is not None:
                sets["scripts_known"].add(e["event_id"])
            if e["script_completed"] == 1:
                sets["scripts_completed"].add(e["event_id"])
        if e["has_id"]:
            sets["ids"].add(e["event_id"])
    names = ("attempts", "contacts", "ids", "people_reached", "scripts_known", "scripts_completed")
    return {n: len(sets[n]) for n in names}


def scoped(demo: Demo) -> list[Row]:
    return [e for e in demo.events if e["org_id"] == ORG and e["campaign_id"] == CAMPAIGN]
