"""End-to-end benchmark: events/s through the whole path beside a raw baseline, and freshness.

    .venv/bin/python -m bench.pipeline [--events 20000] [--rate 1000] [--seconds 30]

1. raw baseline: plain confluent-kafka produce -> consume -> chDB insert, no logic
   (bench/baseline.py, in its own process, same broker, same event bytes);
2. fieldstream: the same number of events POSTed to the gateway in 100-event batches over 8
   connections, through the Faust stream and the sink, until all are queryable in chDB;
3. freshness: a steady --rate events/s for --seconds, then gateway receipt (received_at) to
   queryable (inserted_at) p50/p99, and its two legs (received -> enriched_at, the gateway and
   the stream; enriched -> inserted, the sink);
4. the bulk lane: the same number of events through the import loop (producers/importers) to
   contacts.raw.bulk, until all are queryable;
5. CPU per 1,000 events of runs 1 and 2, process by process (the broker's share included): on
   2 cores the ratio of run 2 to run 1 cannot pass their CPU costs' inverse ratio.

Both runs share one Tansu broker and this machine; the ratio is what to compare across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.events import ORG, SOURCE, BenchState, good_events
from bench.stream import proc_cpu_s
from core.settings import KafkaSettings, Settings, TopicNames
from fieldstream.embedded import free_port, start_tansu
from fieldstream.stack import Stack
from producers.importers.runner import run_rows
from producers.tools.base import AdapterContext
from sinks.query_tokens import admin_header


def run_baseline(bootstrap: str, n: int, workdir: Path) -> dict[str, Any]:
    args = [
        sys.executable,
        "-m",
        "bench.baseline",
        bootstrap,
        f"baseline.{time.time_ns()}",
        str(n),
        str(workdir / "chdb-baseline"),
    ]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the baseline failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bodies(events: list[dict[str, Any]], size: int) -> list[bytes]:
    """The events as the tools' JSON request bodies of ``size`` events, encoded up front."""
    return [json.dumps(events[i : i + size]).encode() for i in range(0, len(events), size)]


def session(headers: dict[str, str], connections: int) -> aiohttp.ClientSession:
    """The senders' HTTP client. aiohttp, not httpx: httpx's connection pool cost this process
    0.4 to 0.6 of a core at 100 requests/s, taken from the pipeline it measures on 2 cores."""
    return aiohttp.ClientSession(
        headers={**headers, "content-type": "application/json"},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def post(client: aiohttp.ClientSession, url: str, body: bytes) -> None:
    async with client.post(url, data=body) as r:
        text = await r.text()
        if r.status != 202:
            raise RuntimeError(f"gateway answered {r.status}: {text[:200]}")


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (the baseline runs as one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def post_all(
    url: str,
    headers: dict[str, str],
    events: list[dict[str, Any]],
    batch: int = 100,
    connections: int = 8,
) -> None:
    """Every event in ``batch``-event requests over ``connections`` connections, as fast as
    the gateway takes them."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies(events, batch):
        queue.put_nowait(body)

    async def worker(client: aiohttp.ClientSession) -> None:
        while not queue.empty():
            await post(client, url, queue.get_nowait())

    async with session(headers, connections) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))


async def post_steady(
    url: str,
    headers: dict[str, str],
    events: list[dict[str, Any]],
    rate: float,
    per_request: int = 10,
) -> None:
    """Send ``rate`` events/s in small requests on a fixed schedule (no bursts)."""
    interval = per_request / rate
    sent: list[asyncio.Task[None]] = []  # every one is awaited: a refusal fails the run
    # at most the gateway's uploads per source at once (max_uploads_per_source: 8)
    async with session(headers, 8) as client:
        start = time.perf_counter()
        for i, body in enumerate(bodies(events, per_request)):
            due = start + i * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent.append(asyncio.create_task(post(client, url, body)))
        await asyncio.gather(*sent)


def query(settings: Settings, sql: str) -> list[list[Any]]:
    url = f"http://{settings.sink.query_host}:{settings.sink.query_port}/query"
    r = httpx.post(url, content=sql, headers=admin_header(settings.query), timeout=60)
    r.raise_for_status()
    return list(r.json()["rows"])


def wait_count(settings: Settings, where: str, n: int, timeout_s: float = 600) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = int(query(settings, f"SELECT count() FROM contact_events FINAL WHERE {where}")[0][0])
        if got >= n:
            return time.perf_counter()
        time.sleep(0.1)
    raise RuntimeError(f"only {got} of {n} events arrived in {timeout_s:.0f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fieldstream-bench-"))
    port = free_port()
    tansu = start_tansu(port, workdir / "tansu.log")
    bootstrap = f"127.0.0.1:{port}"
    try:
        print(f"baseline: {args.events} events produce -> consume -> chDB ...", flush=True)
        broker0, child0 = proc_cpu_s(tansu.pid), children_cpu_s()
        base = run_baseline(bootstrap, args.events, workdir)
        cpu = {"baseline": {"the baseline's process": children_cpu_s() - child0}}
        cpu["baseline"]["broker (Tansu)"] = proc_cpu_s(tansu.pid) - broker0

        kafka = KafkaSettings(bootstrap_servers=bootstrap, topics=TopicNames())
        settings = Settings(data_dir=workdir / "data", kafka=kafka)
        settings.gateway.port = free_port()
        settings.stream.web_port = free_port()
        settings.sink.query_port = free_port()
        state = BenchState.create(settings, workdir)
        with Stack(settings, workdir / "logs", start_broker=False) as stack:
            stack.start_core()
            state.load_voters(settings)
            stack.start_pipeline()
            url = f"http://{settings.gateway.host}:{settings.gateway.port}/v1/events"
            now = dt.datetime.now(dt.UTC)
            rng = random.Random(3)
            # warm-up: first events pay for connections and the agent's first fetch
            asyncio.run(post_all(url, state.headers, good_events(state, rng, 200, now, "warm")))
            wait_count(settings, "source_system = 'warm'", 200)

            events = good_events(state, rng, args.events, now, "throughput")
            print(f"fieldstream: {args.events} events through the whole path ...", flush=True)
            pids = {svc.name: svc.proc.pid for svc in stack.services}
            pids["broker (Tansu)"] = tansu.pid
            before = {name: proc_cpu_s(pid) for name, pid in pids.items()}
            sender0 = time.process_time()
            t0 = time.perf_counter()
            asyncio.run(post_all(url, state.headers, events))
            t1 = wait_count(settings, "source_system = 'throughput'", args.events)
            pipeline_s = t1 - t0
            cpu["fieldstream"] = {n: proc_cpu_s(pid) - before[n] for n, pid in pids.items()}
            cpu["fieldstream"]["the senders (this process)"] = time.process_time() - sender0

            n_steady = int(args.rate * args.seconds)
            print(f"freshness: {args.rate:.0f} events/s for {args.seconds:.0f}s ...", flush=True)
            steady = good_events(state, rng, n_steady, now, "steady")
            asyncio.run(post_steady(url, state.headers, steady, args.rate))
            wait_count(settings, "source_system = 'steady'", n_steady)
            # the whole path, and its two legs: gateway + stream (received -> enriched) and
            # sink (enriched -> inserted)
            legs = [("received_at", "inserted_at"), ("received_at", "enriched_at")]
            legs.append(("enriched_at", "inserted_at"))
            freshness = [
                query(
                    settings,
                    "SELECT quantileExact(0.5)(d), quantileExact(0.99)(d), max(d) FROM (SELECT "
                    f"dateDiff('millisecond', {a}, {b}) / 1000 AS d "
                    "FROM contact_events FINAL WHERE source_system = 'steady')",
                )[0]
                for a, b in legs
            ]

            print(f"bulk lane: {args.events} events imported ...", flush=True)
            imported = good_events(state, rng, args.events, now, "imported")
            ctx = AdapterContext(source_id=SOURCE, org_id=ORG, source_system="imported")
            t2 = time.perf_counter()
            run_rows(
                list(enumerate(imported, start=2)),
                lambda row, _ctx: [row],
                ctx,
                settings.kafka,
                source="bench-import",
                checkpoint_path=None,
            )
            imported_s = time.perf_counter() - t2  # the import loop's own part
            t3 = wait_count(settings, "source_system = 'imported'", args.events)
            bulk_s = t3 - t2
    finally:
        tansu.terminate()
        tansu.wait(10)

    base_rate = base["events"] / base["seconds"]
    pipe_rate = args.events / pipeline_s
    print()
    print(f"{'run':<34}{'events':>9}{'seconds':>10}{'events/s':>11}")
    print(
        f"{'raw baseline (kafka -> chDB)':<34}{base['events']:>9}{base['seconds']:>10.2f}"
        f"{base_rate:>11.0f}"
    )
    print(f"{'fieldstream end to end':<34}{args.events:>9}{pipeline_s:>10.2f}{pipe_rate:>11.0f}")
    bulk_rate = args.events / bulk_s
    label = "fieldstream bulk lane (import)"
    print(f"{label:<34}{args.events:>9}{bulk_s:>10.2f}{bulk_rate:>11.0f}")
    print(f"  of which the import loop (read, convert, send, acked): {imported_s:.2f}s")
    print(f"ratio fieldstream / baseline: {pipe_rate / base_rate:.2f}")
    print(f"ratio bulk lane / baseline: {bulk_rate / base_rate:.2f}")
    print(f"\nCPU per 1,000 events (ms), {args.events} events, side by side:")
    for run_name, parts in cpu.items():
        total = sum(parts.values())
        print(f"  {run_name}: {total / args.events * 1e6:,.0f} in all")
        for part, used in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"    {part:<32}{used / args.events * 1e6:>8,.0f}")
    labels = ["gateway receipt -> queryable", "  receipt -> enriched (gateway, stream)"]
    labels.append("  enriched -> queryable (sink)")
    print(f"freshness at {args.rate:.0f} events/s:")
    for label, (p50, p99, mx) in zip(labels, freshness, strict=True):
        print(f"  {label:<40} p50 {float(p50):.2f}s  p99 {float(p99):.2f}s  max {float(mx):.2f}s")


if __name__ == "__main__":
    main()
