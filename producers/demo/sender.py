"""Post simulated traffic to the gateway at a rate, with backoff; a status line every ~10 s.

The events come from :func:`producers.demo.simulator.generate_events`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx

from core.errors import ConfigError
from core.settings import Settings
from producers.demo.cheats import canvass_day
from producers.demo.simulator import CAMPAIGN_WEIGHTS, Event, World, generate_events, read_world
from producers.tools.registry import read_sources

log = logging.getLogger(__name__)


@dataclass
class SimSummary:
    generated: int = 0
    sent: int = 0
    accepted: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def __str__(self) -> str:
        refused = ", ".join(f"{n} with {s}" for s, n in sorted(self.refused.items())) or "none"
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"sent {self.sent} events in {self.seconds:.0f}s ({rate:.1f}/s): {self.accepted} "
            f"accepted, refused: {refused}; {self.retries} retried requests"
        )


def _headers(settings: Settings) -> dict[str, dict[str, str]]:
    sources = read_sources(settings.gateway.sources_file)
    out = {}
    for src in sources.values():
        if src.id == f"{src.org_id}-simulator":
            out[src.org_id] = {
                "X-Fieldstream-Source": src.id,
                "Authorization": f"Bearer {src.secrets[0].get_secret_value()}",
            }
    missing = {o for o, _ in CAMPAIGN_WEIGHTS} - set(out)
    if missing:
        raise ConfigError(
            f"{settings.gateway.sources_file} has no simulator source for {sorted(missing)}: "
            "add '<org>-simulator' sources (the demo generator writes them)"
        )
    return out


async def _post(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    batch: list[Event],
    s: SimSummary,
    give_up_at: float | None = None,
) -> None:
    delay = 0.5
    while give_up_at is None or time.monotonic() < give_up_at:
        left = None if give_up_at is None else max(0.1, give_up_at - time.monotonic())
        try:
            resp = await asyncio.wait_for(client.post(url, json=batch, headers=headers), left)
        except (httpx.HTTPError, TimeoutError):
            resp = None
        if resp is not None and resp.status_code not in (429, 502, 503, 504):
            s.sent += len(batch)
            if resp.status_code < 300:
                s.accepted += len(batch)
            else:
                s.refused[resp.status_code] += len(batch)
            return
        s.retries += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 8.0)


async def _run(settings: Settings, rate: float, duration_s: float | None, s: SimSummary) -> None:
    rng = random.Random(settings.simulator.seed + int(time.time()))
    world = read_world(settings.data_dir / "demo", rng, rate)
    headers = _headers(settings)
    url = f"http://{settings.gateway.host}:{settings.gateway.port}/v1/events"
    started = last_status = time.monotonic()
    end = None if duration_s is None else started + duration_s
    async with httpx.AsyncClient(timeout=httpx.Timeout(15, connect=3)) as client:
        if settings.simulator.cheat_share > 0:  # a day of shifts, some dishonest, first
            await _post_canvass_day(client, url, headers, world, rng, settings, s, end)
        while duration_s is None or time.monotonic() - started < duration_s:
            await asyncio.sleep(0.25)  # small batches, four a second
            due = int(rate * (time.monotonic() - started)) - s.generated
            if due <= 0:
                continue
            events = generate_events(
                world.voters,
                rng,
                min(due, 500),
                dt.datetime.now(dt.UTC),
                bad_share=settings.simulator.bad_share,
                duplicate_share=settings.simulator.duplicate_share,
                world=world,
            )
            s.generated += len(events)
            batches: dict[str, list[Event]] = defaultdict(list)
            for event, kind in events:
                s.kinds[kind.split(":")[0]] += 1
                org = event["org_id"]
                if kind == "invalid":  # alone, so the gateway's 4xx refuses only it
                    await _post(client, url, headers[org], [event], s, end)
                else:
                    batches[org].append(event)
            await asyncio.gather(
                *(_post(client, url, headers[o], b, s, end) for o, b in batches.items())
            )
            s.seconds = time.monotonic() - started
            if time.monotonic() - last_status >= 10:
                last_status = time.monotonic()
                log.info("simulator: %s", s)


async def _post_canvass_day(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, dict[str, str]],
    world: World,
    rng: random.Random,
    settings: Settings,
    s: SimSummary,
    end: float | None,
) -> None:
    """The day of shifts of :func:`producers.demo.cheats.canvass_day`, in batches of 200."""
    shifts = canvass_day(
        list(CAMPAIGN_WEIGHTS),
        lambda org, campaign: world.universes[(org, campaign)],
        rng,
        settings.simulator.cheat_share,
        dt.datetime.now(dt.UTC),
    )
    s.kinds["shift"] += len(shifts)
    by_org: dict[str, list[Event]] = defaultdict(list)
    for event in shifts:
        by_org[event["org_id"]].append(event)
    for org, events in by_org.items():
        for i in range(0, len(events), 200):
            await _post(client, url, headers[org], events[i : i + 200], s, end)
    log.info("simulator: posted a day of %d shift contacts", len(shifts))


def run_simulator(
    settings: Settings, *, rate: float | None = None, duration_s: float | None = None
) -> SimSummary:
    """Post simulated events until ``duration_s`` passes or Ctrl-C; returns what happened."""
    summary = SimSummary()
    rate = rate or settings.simulator.rate
    started = time.monotonic()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request
    try:
        asyncio.run(_run(settings, rate, duration_s, summary))
    except KeyboardInterrupt:
        log.info("simulator interrupted")
    summary.seconds = time.monotonic() - started
    log.info("simulator done: %s", summary)
    return summary
