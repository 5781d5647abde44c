"""The demo store the board tests read: the demo voter file, goals, universes (cut into precinct
turfs) and ten days of simulated field traffic, each event through the real path (ContactJson,
process_batch, the sink's rows), a quarter of it redelivered; and the recount of its measures."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.config import load_programs
from producers.demo.simulator import generate_events, read_world
from producers.demo.state import generate_demo
from producers.voterfile.load import read_voters
from schemas import CONTACT_EVENT, VOTER, AvroCodec
from schemas.ids import voter_key
from schemas.jsonconv import ContactJson
from sinks import rows as sr
from sinks.keeper import Keeper
from sinks.loaders import load_goals, load_universe
from sinks.migrate import migrate
from sinks.remote import DirectAccess
from sinks.store import LockedStore, open_store
from sinks.zones import ProgramClock
from streams.logic.process import DLQ, ENRICHED, Context, process_batch

TODAY = dt.date(2026, 11, 4)  # a Wednesday
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
    store = LockedStore(open_store(f"chdb:///{tmp / 'chdb'}"))
    migrate(store.client)
    keeper = Keeper(store, clock, overlap_s=10 * 365 * 86400)
    keeper.start_up()
    store.insert("voters", sr.VOTER_COLUMNS, [sr.voter_row(v) for v in voters])
    store.insert("contact_events", sr.CONTACT_COLUMNS, contacts, "boards:0")
    store.insert("contact_events", sr.CONTACT_COLUMNS, contacts[::4], "boards:1")  # redelivered
    store.insert("dead_letters", sr.DEAD_LETTER_COLUMNS, letters, "boards:dlq")
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
    demo = Demo(store, events, goals, dict(universe), keeper, clock.zone_of(ORG, CAMPAIGN))
    demo.settle()
    return demo


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
