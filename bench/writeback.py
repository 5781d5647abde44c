"""Write-back to VAN: throughput at a set rate limit beside the limit, and lag at 100 contacts/s.

    python -m bench.writeback [--contacts 600] [--rates 20,50,100] [--lag-seconds 20]

Runs the write-back's own ledger and sender (the code ``python -m sinks.writeback`` runs)
against the VAN stand-in (tests/fakes/van_api.py) on this machine:

- ``throughput``: N contacts waiting in the ledger, the key limited to R requests per second:
  posted per second, beside R. The ratio (posted/s over R) is the figure: how close the
  write-back comes to the rate it is allowed, never above it;
- ``lag``: contacts reach the ledger at 100 per second (as the intake would add them) with the
  key limited to 150/s: the time from a contact's arrival to VAN's 204, p50/p95/p99/max. The
  Kafka leg before the ledger (gateway -> stream -> contacts.enriched) is measured by
  ``bench.pipeline``; this is the write-back's own part.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from sinks.writeback.ledger import Ledger, NewEntry
from sinks.writeback.pacing import KeyPacer
from sinks.writeback.sender import Sender, Target
from tests.fakes.van_api import VanStandIn, running

KEY = "11111111-2222-3333-4444-555555555555"
BODY = json.dumps({"canvassContext": {"contactTypeId": 2, "inputTypeId": 11}, "resultCodeId": 1})


def entries(n: int, start: int, now: float) -> list[NewEntry]:
    return [
        NewEntry(f"e{i}", "org", "bench", "c", now, person=str(10_000 + i), mode=1, body=BODY)
        for i in range(start, start + n)
    ]


async def throughput(url: str, ledger: Ledger, n: int, rate: float) -> float:
    ledger.add(entries(n, 0, time.time()))
    target = Target.build(f"{url}/v4", "bench", SecretStr(KEY), KeyPacer(rate, 8))
    async with httpx.AsyncClient(timeout=30) as client:
        sender = Sender(ledger, {"org": target}, client, idle_s=0.005)
        t0 = time.perf_counter()
        await sender.drain(timeout_s=n / rate * 3 + 30)
        elapsed = time.perf_counter() - t0
    posted = len(ledger.entries("posted", limit=n + 1))
    return posted / elapsed


async def lag(url: str, ledger: Ledger, seconds: float, per_second: float = 100.0) -> list[float]:
    target = Target.build(f"{url}/v4", "bench", SecretStr(KEY), KeyPacer(150, 8))
    async with httpx.AsyncClient(timeout=30) as client:
        sender = Sender(ledger, {"org": target}, client, idle_s=0.005)
        stop = asyncio.Event()
        runner = asyncio.create_task(sender.run(stop))
        t0, added = time.time(), 0
        while time.time() - t0 < seconds:
            due = int((time.time() - t0) * per_second)
            if due > added:
                ledger.add(entries(due - added, added, time.time()))
                added = due
            await asyncio.sleep(0.005)
        deadline = time.time() + 30
        while ledger.due(1) and time.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        stop.set()
        await runner
    return [e.updated_at - e.received_at for e in ledger.entries("posted", limit=added + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=600)
    parser.add_argument("--rates", default="20,50,100")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with running(VanStandIn(app_name="bench", api_keys=frozenset({KEY}))) as van:
        print("write-back throughput against the VAN stand-in (one API key)")
        print(f"{'limit/s':>8} {'contacts':>9} {'posted/s':>9} {'ratio':>6}")
        for rate in (float(r) for r in args.rates.split(",")):
            n = min(args.contacts, int(rate * 10))
            with tempfile.TemporaryDirectory() as tmp:
                ledger = Ledger(Path(tmp) / "ledger.sqlite")
                got = asyncio.run(throughput(van.url, ledger, n, rate))
                ledger.close()
            print(f"{rate:8.0f} {n:9d} {got:9.1f} {got / rate:6.2f}")
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Ledger(Path(tmp) / "ledger.sqlite")
            lags = sorted(asyncio.run(lag(van.url, ledger, args.lag_seconds)))
            ledger.close()
        q = statistics.quantiles(lags, n=100)
        print(
            f"lag at 100 contacts/s (key limit 150/s), {len(lags)} contacts: "
            f"p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
            f"max {lags[-1] * 1000:.0f} ms"
        )
        print(f"stand-in answered {len(van.statuses())} posts, 429s: {van.statuses().count(429)}")


if __name__ == "__main__":
    main()
