"""Simulated field traffic: door, phone and text contacts posted to the gateway.

:func:`generate_events` is pure (an rng in, events out) so tests can recount what was made;
:func:`producers.demo.sender.run_simulator` posts them at a rate with backoff.
Canvassers work in teams, each on a precinct turf; phone and text banks work lists. A share of
events is bad on purpose (the stream dead-letters them), a few are schema-invalid (the gateway
refuses them with 4xx) and a share are retries of events already sent.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError

log = logging.getLogger(__name__)

Event = dict[str, Any]
CAMPAIGN_WEIGHTS = {
    ("demo-org", "gotv-2026"): 0.45,
    ("demo-org", "persuasion-2026"): 0.30,
    ("allies-org", "allies-gotv"): 0.25,
}
CHANNELS = (("door", 0.5), ("phone", 0.3), ("text", 0.2))
RESULTS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "door": (
        ("canvassed", "Canvassed", 0.30),
        ("not_home", "Not Home", 0.45),
        ("refused", "Refused", 0.08),
        ("moved", "Moved", 0.03),
        ("inaccessible", "Inaccessible", 0.04),
        ("vacant", "Vacant", 0.02),
        ("lit_drop", "Lit Drop", 0.05),
        ("language_barrier", "Language Barrier", 0.01),
        ("hostile", "Hostile", 0.01),
        ("deceased", "Deceased", 0.01),
    ),
    "phone": (
        ("canvassed", "Talked to Voter", 0.18),
        ("not_home", "No Answer", 0.35),
        ("left_message", "Left Message", 0.15),
        ("busy", "Busy", 0.05),
        ("wrong_number", "Wrong Number", 0.10),
        ("disconnected", "Disconnected", 0.08),
        ("refused", "Refused", 0.06),
        ("do_not_call", "Do Not Call", 0.01),
        ("language_barrier", "Language Barrier", 0.01),
        ("moved", "Moved", 0.01),
    ),
    "text": (
        ("texted", "Sent", 0.60),
        ("canvassed", "Replied", 0.20),
        ("refused", "Opted Out of Conversation", 0.06),
        ("wrong_number", "Wrong Number", 0.05),
        ("deliverability_error", "Undeliverable", 0.06),
        ("do_not_text", "STOP", 0.03),
    ),
}
CONTACT_TYPES = {
    "door": (("walk", 1.0),),
    "phone": (("manual_dial", 0.6), ("predictive_dial", 0.4)),
    "text": (("p2p_sms", 0.9), ("mass_sms", 0.1)),
}
INPUT_METHODS = {
    "door": (("mobile_app", 0.9), ("paper", 0.1)),
    "phone": (("web", 1.0),),
    "text": (("api", 1.0),),
}
# support level weights 1..5 per campaign kind: GOTV universes lean supportive
SUPPORT = {"gotv": (0.45, 0.25, 0.15, 0.08, 0.07), "persuasion": (0.15, 0.2, 0.35, 0.15, 0.15)}
BAD_REASONS = (
    "unknown_campaign",
    "future_occurred_at",
    "responses_without_contact",
    "result_channel_mismatch",
)
INVALID_SHARE_OF_BAD = 0.2
UNMATCHED_SHARE = 0.03


@dataclass(frozen=True)
class Canvasser:
    id: str
    org_id: str
    team_id: str
    channel: str
    turf: str  # precinct (door) or list id (phone/text)


@dataclass
class World:
    """Who works where: canvassers per org, voters per precinct, universes per campaign."""

    voters: list[dict[str, Any]]
    by_precinct: dict[str, list[dict[str, Any]]]
    universes: dict[tuple[str, str], list[dict[str, Any]]]
    turfs: dict[tuple[str, str, str], list[dict[str, Any]]]  # (org, campaign, precinct)
    canvassers: dict[tuple[str, str], list[Canvasser]]  # (org, channel) -> canvassers
    history: list[Event] = field(default_factory=list)


def build_world(
    voters: Sequence[dict[str, Any]],
    rng: random.Random,
    universes: dict[tuple[str, str], set[str]] | None = None,
    rate: float | None = None,
) -> World:
    """Teams of canvassers on precinct turfs, phone and text banks on lists. With ``rate``
    (events a second), enough people that each keeps a human pace (a door about every 3
    minutes, a call every 2): the quality checks (docs/quality.md) judge every canvasser."""
    org_share: dict[str, float] = defaultdict(float)
    for (o, _), w in CAMPAIGN_WEIGHTS.items():
        org_share[o] += w
    door_share, phone_share = (dict(CHANNELS)[c] for c in ("door", "phone"))
    by_precinct: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in voters:
        by_precinct[v.get("precinct") or "unknown"].append(v)
    precincts = sorted(by_precinct)
    canvassers: dict[tuple[str, str], list[Canvasser]] = {}
    for org in sorted({o for o, _ in CAMPAIGN_WEIGHTS}):
        door = []
        for t in range(4):
            team = f"{org}-team-{t + 1}"
            per_team = rng.randint(4, 6)
            if rate:
                per_team = max(per_team, math.ceil(rate * door_share * org_share[org] * 180 / 4))
            for c in range(per_team):
                door.append(Canvasser(f"{team}-c{c + 1}", org, team, "door", rng.choice(precincts)))
        canvassers[(org, "door")] = door
        for channel, bank in (("phone", "phonebank"), ("text", "textbank")):
            canvassers[(org, channel)] = [
                Canvasser(f"{org}-{bank}-v{i + 1}", org, f"{org}-{bank}", channel, f"{bank}-list-1")
                for i in range(
                    max(6, math.ceil((rate or 0) * phone_share * org_share[org] * 120))
                    if channel == "phone"
                    else 6
                )
            ]
    chosen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    turfs: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for key in CAMPAIGN_WEIGHTS:
        ids = (universes or {}).get(key)
        chosen[key] = [v for v in voters if ids is None or v["voter_id"] in ids] or list(voters)
        for v in chosen[key]:
            turfs[(*key, v.get("precinct") or "unknown")].append(v)
    return World(list(voters), dict(by_precinct), chosen, dict(turfs), canvassers)


def _pick(rng: random.Random, options: Sequence[tuple[Any, ...]]) -> Any:
    return rng.choices(options, weights=[o[-1] for o in options])[0]


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _good_event(world: World, rng: random.Random, now: dt.datetime) -> Event:
    org, campaign = _pick(rng, [(*k, w) for k, w in CAMPAIGN_WEIGHTS.items()])[:2]
    channel = _pick(rng, CHANNELS)[0]
    canvasser = rng.choice(world.canvassers[(org, channel)])
    universe = world.universes[(org, campaign)]
    voter = rng.choice(universe)
    if channel == "door":  # mostly the campaign's universe in the team's turf
        in_turf = world.turfs.get((org, campaign, canvasser.turf))
        if in_turf and rng.random() < 0.85:
            voter = rng.choice(in_turf)
    state = voter.get("state") or "ZZ"
    voter_id = voter["voter_id"]
    if rng.random() < UNMATCHED_SHARE:
        voter_id = f"{state}9{rng.randrange(10**7):07d}"  # not on the file
    result, raw, _ = _pick(rng, RESULTS[channel])
    responses: list[dict[str, Any]] = []
    if result == "canvassed" and rng.random() < 0.85:
        weights = SUPPORT["gotv" if "gotv" in campaign else "persuasion"]
        level = rng.choices(range(1, 6), weights=weights)[0]
        responses.append({"question_id": "support", "answer": str(level), "support_level": level})
        if rng.random() < 0.5:
            plan = rng.choice(["early", "election_day", "mail", "undecided"])
            responses.append({"question_id": "vote_plan", "answer": plan, "support_level": None})
    occurred = now - dt.timedelta(seconds=rng.uniform(1, 90 if channel != "door" else 600))
    return {
        "source_system": "simulator",
        "source_event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "org_id": org,
        "campaign_id": campaign,
        "program_id": "weekend-blitz" if rng.random() < 0.2 else None,
        "channel": channel,
        "contact_type": _pick(rng, CONTACT_TYPES[channel])[0],
        "input_method": _pick(rng, INPUT_METHODS[channel])[0],
        "occurred_at": _iso(occurred),
        "person": {"voter_id": voter_id, "state": state},
        "canvasser_id": canvasser.id,
        "team_id": canvasser.team_id,
        "turf_id": f"turf-{canvasser.turf}" if channel == "door" else None,
        "list_id": canvasser.turf if channel != "door" else f"walk-{campaign}",
        "result": result,
        "result_raw": raw,
        "responses": responses,
        "activist_codes": ["volunteer_prospect"] if responses and rng.random() < 0.05 else [],
        "opt_out": result in ("do_not_call", "do_not_text"),
        "script_completed": (rng.random() < 0.9) if result == "canvassed" else None,
    }


def _spoil(event: Event, reason: str, now: dt.datetime) -> Event:
    if reason == "unknown_campaign":
        event["campaign_id"] = "no-such-campaign"
    elif reason == "future_occurred_at":
        # past the stream's clock skew (a dead letter), within the gateway's window (a 2xx)
        event["occurred_at"] = _iso(now + dt.timedelta(hours=2))
    elif reason == "responses_without_contact":
        event.update(channel="door", contact_type="walk", result="not_home", result_raw="NH")
        event["responses"] = [{"question_id": "support", "answer": "1", "support_level": 1}]
    else:  # result_channel_mismatch
        event.update(channel="text", contact_type="p2p_sms", result="vacant", result_raw="Vacant")
        event["responses"] = []
    return event


def _invalid(event: Event, rng: random.Random) -> Event:
    how = rng.randrange(3)
    if how == 0:
        event["channel"] = "carrier_pigeon"
    elif how == 1:
        event["occurred_at"] = "yesterday afternoon"
    else:
        del event["result_raw"]
    return event


def generate_events(
    voters: Sequence[dict[str, Any]],
    rng: random.Random,
    n: int,
    now: dt.datetime,
    *,
    bad_share: float = 0.03,
    duplicate_share: float = 0.02,
    world: World | None = None,
) -> list[tuple[Event, str]]:
    """``n`` events with their kind: good, duplicate, bad:<reason_code> or invalid.

    Pass the same ``world`` across calls so duplicates can repeat earlier batches' events.
    """
    world = world or build_world(voters, rng)
    out: list[tuple[Event, str]] = []
    for _ in range(n):
        roll = rng.random()
        if roll < duplicate_share and world.history:
            out.append((dict(rng.choice(world.history)), "duplicate"))
            continue
        event = _good_event(world, rng, now)
        if roll < duplicate_share + bad_share:
            if rng.random() < INVALID_SHARE_OF_BAD:
                out.append((_invalid(event, rng), "invalid"))
            else:
                reason = rng.choice(BAD_REASONS)
                out.append((_spoil(event, reason, now), f"bad:{reason}"))
            continue
        world.history.append(event)
        if len(world.history) > 5000:
            del world.history[:1000]
        out.append((event, "good"))
    return out


def read_world(demo_dir: Path, rng: random.Random, rate: float | None = None) -> World:
    """The demo's voters and universes (plain CSV reads: the simulator needs ids and places)."""
    voters_path = demo_dir / "voters.csv"
    if not voters_path.exists():
        raise ConfigError(f"no demo voter file at {voters_path}: run the demo generator first")
    with voters_path.open(newline="") as f:
        voters = [
            {"voter_id": r["VoterID"], "state": r["State"], "precinct": r["Precinct"]}
            for r in csv.DictReader(f)
        ]
    universes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted(demo_dir.glob("universe-*.csv")):
        with path.open(newline="") as f:
            for r in csv.DictReader(f):
                universes[(r["org_id"], r["campaign_id"])].add(r["voter_id"])
    return build_world(voters, rng, dict(universes), rate)
