"""A field program with cheats in it: honest canvassers and callers with realistic variation, and
a known share of dishonest shifts in several patterns. Pure and seeded (an rng in, events out).

Honest door canvassers walk a list on one of three kinds of turf: town streets, apartment
buildings (many doors at one spot, fast not-homes, poor indoor GPS) and rural roads (long
drives between doors). Each has their own contact rate, ID rate and turf lean; a few enter
paper sheets after the shift (data-entry times, no location); GPS fixes are noisy and now and
then wild. Callers dial a list: machines, no answers and short refusals are most calls.

Dishonest shifts follow one pattern each (:data:`DOOR_PATTERNS`, :data:`PHONE_PATTERNS`):

- ``curbstone``: records the list from one spot (a car, a cafe) 0.3-2.5 km away, at a human
  pace, with a high contact rate; half of them walk honestly for the first 30-60 minutes;
- ``fast_doors``: walks past the doors recording them at 25-75 s each, mostly not-home;
- ``skewed_ids``: walks or dials at a normal pace but invents conversations: a high contact
  rate and nearly every ID the same answer;
- ``copy_paste``: back-fills contacts in batches that share one timestamp;
- ``short_calls``: marks quick calls as conversations with IDs.

Events are canonical contacts with the evidence fields (``shift_id``, ``location``,
``call_duration_s``, ``reached``); the voters' places come separately (what the voter file
gives the stream), so a caller can choose what the program knows.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]
DOOR_PATTERNS = ("curbstone", "fast_doors", "skewed_ids", "copy_paste")
PHONE_PATTERNS = ("short_calls", "skewed_ids", "copy_paste")
BASE_LAT, BASE_LON = 40.0, -75.0
PRECINCT_M = 1500.0  # precincts are squares of this side
SUPPORT_BASE = {"gotv": (0.45, 0.25, 0.15, 0.08, 0.07), "persuasion": (0.15, 0.2, 0.35, 0.15, 0.15)}
DOOR_OTHER = (
    ("not_home", 0.76),
    ("refused", 0.1),
    ("moved", 0.03),
    ("inaccessible", 0.04),
    ("vacant", 0.02),
    ("lit_drop", 0.05),
)
TURFS = (("town", 0.6), ("apartments", 0.2), ("rural", 0.2))


@dataclass(frozen=True)
class ProgramSpec:
    """The program's shape: campaigns (org, campaign), days, shifts per campaign and day."""

    campaigns: tuple[tuple[str, str], ...] = (("sim-org", "gotv"), ("sim-org", "persuasion"))
    days: int = 2
    door_shifts: int = 20
    phone_shifts: int = 8
    dishonest_share: float = 0.1
    door_patterns: tuple[str, ...] = DOOR_PATTERNS
    phone_patterns: tuple[str, ...] = PHONE_PATTERNS
    start: dt.date = dt.date(2026, 10, 3)
    shift_id_share: float = 0.5  # canvassers whose tool sends a shift (walk list) id


@dataclass(frozen=True)
class ShiftTruth:
    shift: str  # org/campaign/canvasser/date
    org_id: str
    campaign_id: str
    channel: str
    canvasser_id: str
    day: str
    pattern: str | None  # None: honest
    turf: str
    first_at: float = 0.0
    last_at: float = 0.0
    contacts: int = 0


@dataclass
class Program:
    events: list[Event] = field(default_factory=list)
    voters: dict[str, dict[str, float]] = field(default_factory=dict)  # voter_id -> places
    shifts: dict[str, ShiftTruth] = field(default_factory=dict)


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat))))


def _iso(t: float) -> str:
    return (
        dt.datetime.fromtimestamp(t, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _pick(rng: random.Random, options: Sequence[tuple[str, float]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


@dataclass
class _Walker:
    """One shift's canvasser walking (or driving) a list of doors."""

    rng: random.Random
    turf: str
    lat: float
    lon: float
    building: tuple[float, float] | None = None
    doors_left_in_building: int = 0

    def next_door(self) -> tuple[float, float, float]:
        """(lat, lon, seconds to get there) of the next voter's door."""
        rng = self.rng
        if self.turf == "apartments":
            if self.doors_left_in_building <= 0 or self.building is None:
                self.building = offset(
                    self.lat, self.lon, rng.uniform(-300, 300), rng.uniform(-300, 300)
                )
                self.doors_left_in_building = rng.randint(15, 50)
                travel = 180 + rng.uniform(0, 240)
            else:
                travel = rng.uniform(8, 30)
            self.doors_left_in_building -= 1
            self.lat, self.lon = offset(*self.building, rng.gauss(0, 3), rng.gauss(0, 3))
            return self.lat, self.lon, travel
        if self.turf == "rural":
            dist, speed, overhead = rng.uniform(250, 2000), rng.uniform(8, 15), rng.uniform(40, 120)
        else:
            dist, speed, overhead = rng.uniform(30, 160), rng.uniform(1.1, 1.5), rng.uniform(5, 30)
        heading = rng.uniform(0, 2 * math.pi)
        self.lat, self.lon = offset(
            self.lat, self.lon, dist * math.cos(heading), dist * math.sin(heading)
        )
        return self.lat, self.lon, dist / speed + overhead


def _precinct(lat: float, lon: float) -> tuple[float, float]:
    """The centroid of the square precinct around (lat, lon)."""
    north = (lat - BASE_LAT) * 111_320.0
    east = (lon - BASE_LON) * 111_320.0 * math.cos(math.radians(BASE_LAT))
    i, j = math.floor(east / PRECINCT_M), math.floor(north / PRECINCT_M)
    clat, clon = offset(BASE_LAT, BASE_LON, (i + 0.5) * PRECINCT_M, (j + 0.5) * PRECINCT_M)
    return clat, clon


class _ShiftMaker:
    """Builds one shift's events; the honest and dishonest variants share its helpers."""

    def __init__(
        self,
        program: Program,
        rng: random.Random,
        truth: ShiftTruth,
        start: float,
        send_shift_id: bool,
        lean: Sequence[float],
    ) -> None:
        self.program, self.rng, self.truth = program, rng, truth
        self.start = start
        self.shift_id = (
            f"walk-{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}" if send_shift_id else None
        )
        self.lean = lean
        self.events: list[Event] = []

    def voter(self, lat: float, lon: float) -> str:
        vid = f"SIM{len(self.program.voters):07d}"
        plat, plon = _precinct(lat, lon)
        self.program.voters[vid] = {
            "address_lat": lat,
            "address_lon": lon,
            "precinct_lat": plat,
            "precinct_lon": plon,
        }
        return vid

    def support(self, skew: bool = False) -> int:
        if skew and self.rng.random() < 0.85:
            return 1
        return self.rng.choices(range(1, 6), weights=self.lean)[0]

    def emit(
        self,
        t: float,
        voter_id: str,
        result: str,
        *,
        level: int | None = None,
        location: dict[str, float] | None = None,
        input_method: str = "mobile_app",
        duration: float | None = None,
        reached: str | None = None,
    ) -> None:
        tr = self.truth
        responses = []
        if level is not None:
            responses.append(
                {"question_id": "support", "answer": str(level), "support_level": level}
            )
        self.events.append(
            {
                "source_system": "quality-sim",
                "source_event_id": uuid.UUID(int=self.rng.getrandbits(128)).hex,
                "org_id": tr.org_id,
                "campaign_id": tr.campaign_id,
                "channel": tr.channel,
                "contact_type": "walk" if tr.channel == "door" else "manual_dial",
                "input_method": input_method if tr.channel == "door" else "web",
                "occurred_at": _iso(t),
                "person": {"voter_id": voter_id, "state": "ZZ"},
                "canvasser_id": tr.canvasser_id,
                "team_id": f"{tr.org_id}-{tr.turf}",
                "turf_id": None,
                "list_id": None,
                "result": result,
                "result_raw": result,
                "responses": responses,
                "activist_codes": [],
                "opt_out": False,
                "script_completed": True if result == "canvassed" else None,
                "shift_id": self.shift_id,
                "location": location,
                "call_duration_s": duration,
                "reached": reached,
            }
        )

    def fix(self, lat: float, lon: float) -> dict[str, float] | None:
        """A phone's GPS fix near (lat, lon): None one time in ten, wild one in a hundred."""
        rng = self.rng
        if rng.random() < 0.1:
            return None
        acc = rng.uniform(15, 60) if self.truth.turf == "apartments" else rng.uniform(4, 25)
        if rng.random() < 0.01:
            lat, lon = offset(
                lat, lon, rng.choice((-1, 1)) * rng.uniform(1000, 3000), rng.uniform(-3000, 3000)
            )
        else:
            lat, lon = offset(lat, lon, rng.gauss(0, acc / 2), rng.gauss(0, acc / 2))
        return {"lat": lat, "lon": lon, "accuracy_m": round(acc, 1)}


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _door_result(
    m: _ShiftMaker, p_contact: float, p_id: float, skew: bool
) -> tuple[str, int | None, float]:
    """(result, support level or None, seconds at the door) of one honest-looking door."""
    rng = m.rng
    if rng.random() < p_contact:
        level = m.support(skew) if rng.random() < p_id else None
        return "canvassed", level, rng.lognormvariate(math.log(240), 0.4)
    result = _pick(rng, DOOR_OTHER)
    if result == "not_home":
        at_door = rng.uniform(25, 60) if m.truth.turf == "apartments" else rng.uniform(45, 110)
    else:
        at_door = rng.uniform(20, 90)
    return result, None, at_door


def _door_shift(m: _ShiftMaker, pattern: str | None, walker: _Walker) -> None:
    rng = m.rng
    turf_contact = {"town": 0.22, "apartments": 0.17, "rural": 0.3}[m.truth.turf]
    p_contact = _clip(rng.gauss(turf_contact, 0.05), 0.06, 0.45)
    p_id = _clip(rng.gauss(0.8, 0.08), 0.5, 0.98)
    p_cheat = rng.uniform(0.45, 0.8)
    t, end = m.start, m.start + rng.uniform(2, 4) * 3600
    honest_until = t
    if pattern == "curbstone" and rng.random() < 0.5:
        honest_until = t + rng.uniform(1800, 3600)
    paper = pattern is None and rng.random() < 0.05
    spot: tuple[float, float] | None = None
    rows: list[tuple[float, str, str, int | None, dict[str, float] | None]] = []
    while t < end:
        lat, lon, travel = walker.next_door()
        vid = m.voter(lat, lon)
        cheating = pattern is not None and t >= honest_until
        if cheating and pattern == "curbstone":
            if spot is None:
                dist, heading = rng.uniform(300, 2500), rng.uniform(0, 2 * math.pi)
                spot = offset(lat, lon, dist * math.cos(heading), dist * math.sin(heading))
            t += rng.uniform(60, 180)
            result, level, _ = _door_result(m, p_cheat, 0.9, False)
            here = offset(*spot, rng.gauss(0, 6), rng.gauss(0, 6))
            rows.append(
                (
                    t,
                    vid,
                    result,
                    level,
                    {"lat": here[0], "lon": here[1], "accuracy_m": round(rng.uniform(5, 15), 1)},
                )
            )
            continue
        if cheating and pattern == "fast_doors":
            t += rng.uniform(25, 75)
            result, level, _ = _door_result(m, 0.1, 0.9, False)
            rows.append((t, vid, result, level, m.fix(lat, lon)))
            continue
        skew = cheating and pattern == "skewed_ids"
        result, level, at_door = _door_result(
            m, p_cheat if skew else p_contact, 0.95 if skew else p_id, skew
        )
        t += travel + at_door
        rows.append((t, vid, result, level, None if paper else m.fix(lat, lon)))
    if paper:  # typed in after the shift: data-entry times, no place
        t = end + rng.uniform(300, 1800)
        for _, vid, result, level, _loc in rows:
            t += rng.uniform(10, 40)
            m.emit(t, vid, result, level=level, input_method="paper")
        return
    if pattern == "copy_paste":  # back-filled in batches that share one time
        i = 0
        while i < len(rows):
            batch = rows[i : i + rng.randint(4, 12)]
            when, loc = batch[-1][0], None if rng.random() < 0.5 else batch[-1][4]
            for _, vid, result, level, _loc in batch:
                m.emit(when, vid, result, level=level, location=loc)
            i += len(batch)
        return
    for when, vid, result, level, loc in rows:
        m.emit(when, vid, result, level=level, location=loc)


def _phone_shift(m: _ShiftMaker, pattern: str | None) -> None:
    rng = m.rng
    p_person = _clip(rng.gauss(0.3, 0.06), 0.1, 0.5)
    p_conv = _clip(rng.gauss(0.6, 0.1), 0.3, 0.85)
    p_id = _clip(rng.gauss(0.85, 0.06), 0.6, 0.98)
    amd = rng.random() < 0.7  # the dialer tells machines from people
    t, end = m.start, m.start + rng.uniform(1.5, 3) * 3600
    rows: list[tuple[float, str, str, int | None, int, str | None]] = []
    while t < end:
        vid = m.voter(
            *offset(BASE_LAT, BASE_LON, rng.uniform(-9000, 9000), rng.uniform(-9000, 9000))
        )
        roll = rng.random()
        level: int | None = None
        reached: str | None = None
        if pattern == "short_calls" and rng.random() < 0.5:
            result, duration, reached = "canvassed", rng.uniform(5, 20), "person"
            level = m.support()
        elif pattern == "skewed_ids" and roll < 0.55:
            result, duration, reached = (
                "canvassed",
                rng.lognormvariate(math.log(120), 0.5),
                "person",
            )
            level = m.support(skew=True)
        elif roll < 0.3:
            result = "left_message" if rng.random() < 0.4 else "not_home"
            duration, reached = rng.uniform(8, 25), "machine"
        elif roll < 0.6:
            result, duration = "not_home", 0.0
        elif roll < 0.6 + (1 - 0.6) * (1 - p_person) * 0.4:
            result, duration = (
                _pick(rng, (("busy", 0.3), ("wrong_number", 0.4), ("disconnected", 0.3))),
                rng.uniform(0, 15),
            )
        elif rng.random() < p_conv:
            result, duration, reached = (
                "canvassed",
                rng.lognormvariate(math.log(150), 0.5),
                "person",
            )
            level = m.support() if rng.random() < p_id else None
        else:
            result, duration, reached = "refused", rng.uniform(8, 60), "person"
        t += rng.uniform(8, 25) + duration + rng.uniform(10, 40)
        rows.append((t, vid, result, level, round(duration), reached if amd else None))
    if pattern == "copy_paste":
        i = 0
        while i < len(rows):
            batch = rows[i : i + rng.randint(4, 12)]
            for _, vid, result, level, duration, reached in batch:
                m.emit(batch[-1][0], vid, result, level=level, duration=duration, reached=reached)
            i += len(batch)
        return
    for when, vid, result, level, duration, reached in rows:
        m.emit(when, vid, result, level=level, duration=duration, reached=reached)


def _dishonest(
    rng: random.Random, n: int, share: float, patterns: Sequence[str]
) -> list[str | None]:
    """Which of ``n`` shifts cheat, and how: about ``share`` of them (stochastic rounding),
    patterns dealt in turn from a random start."""
    k = min(n, math.floor(share * n + rng.random())) if patterns else 0
    chosen = set(rng.sample(range(n), k))
    first = rng.randrange(len(patterns)) if patterns else 0
    out: list[str | None] = [None] * n
    for j, i in enumerate(sorted(chosen)):
        out[i] = patterns[(first + j) % len(patterns)]
    return out


def simulate_program(spec: ProgramSpec, rng: random.Random) -> Program:
    """Every shift of the program: events (sorted by time), voters' places, the truth."""
    program = Program()
    for org, campaign in spec.campaigns:
        lean_base = SUPPORT_BASE["gotv" if "gotv" in campaign else "persuasion"]
        for d in range(spec.days):
            day = spec.start + dt.timedelta(days=d)
            midnight = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
            for channel, n, patterns in (
                ("door", spec.door_shifts, spec.door_patterns),
                ("phone", spec.phone_shifts, spec.phone_patterns),
            ):
                cheats = _dishonest(rng, n, spec.dishonest_share, patterns)
                for i, pattern in enumerate(cheats):
                    canvasser = f"{campaign}-{channel}-{i + 1:02d}"
                    turf = _pick(rng, TURFS) if channel == "door" else "phonebank"
                    truth = ShiftTruth(
                        f"{org}/{campaign}/{canvasser}/{day.isoformat()}",
                        org,
                        campaign,
                        channel,
                        canvasser,
                        day.isoformat(),
                        pattern,
                        turf,
                    )
                    lean = [rng.gammavariate(40 * w, 1) for w in lean_base]
                    hours = (14, 20) if channel == "door" else (16, 22)
                    start = midnight + rng.uniform(*hours) * 3600
                    maker = _ShiftMaker(
                        program, rng, truth, start, rng.random() < spec.shift_id_share, lean
                    )
                    if channel == "door":
                        lat, lon = offset(
                            BASE_LAT, BASE_LON, rng.uniform(-8000, 8000), rng.uniform(-8000, 8000)
                        )
                        _door_shift(maker, pattern, _Walker(rng, turf, lat, lon))
                    else:
                        _phone_shift(maker, pattern)
                    times = [_epoch(e) for e in maker.events]
                    program.shifts[truth.shift] = ShiftTruth(
                        **{
                            **truth.__dict__,
                            "first_at": min(times),
                            "last_at": max(times),
                            "contacts": len(times),
                        }
                    )
                    program.events.extend(maker.events)
    program.events.sort(key=_epoch)
    return program


def _epoch(event: Event) -> float:
    return dt.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).timestamp()


def canvass_day(
    campaigns: Sequence[tuple[str, str]],
    voters_of: Callable[[str, str], Sequence[dict[str, Any]]],
    rng: random.Random,
    share: float,
    now: dt.datetime,
) -> list[Event]:
    """A day of shifts for the demo's campaigns, ending a minute before ``now``, with ``share``
    of them dishonest: the simulator's events re-pointed at the demo's voters
    (``voters_of(org, campaign)``). The demo's voters have only precinct centroids in another
    place than this simulation's geometry, so the events carry no location: the demo's flags
    come from pace, times and peers."""
    spec = ProgramSpec(campaigns=tuple(campaigns), days=1, door_shifts=10, phone_shifts=4,
                       dishonest_share=share, start=now.date())  # fmt: skip
    program = simulate_program(spec, rng)
    if not program.events:
        return []
    shift = now.timestamp() - 60 - _epoch(program.events[-1])
    chosen: dict[str, dict[str, Any]] = {}
    out = []
    for event in program.events:
        pool = voters_of(event["org_id"], event["campaign_id"])
        sim_id = event["person"]["voter_id"]
        if sim_id not in chosen:
            chosen[sim_id] = rng.choice(pool)
        voter = chosen[sim_id]
        out.append({
            **event,
            "source_event_id": f"{event['source_event_id']}",
            "occurred_at": _iso(_epoch(event) + shift),
            "person": {"voter_id": voter["voter_id"], "state": voter.get("state") or "ZZ"},
            "canvasser_id": f"{event['canvasser_id']}-{now:%m%d%H%M}",
            "location": None,
        })  # fmt: skip
    return out
