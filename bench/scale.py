"""Throughput with 1, 2 and 4 workers, beside the cores they used.

    .venv/bin/python -m bench.scale [--workers 1 2 4] [--events 100000] [--e2e-events 20000]

For each worker count N, on a fresh broker whose contacts topics have max(4, N) partitions:

1. the stream stage: ``--events`` Avro contacts prefilled on contacts.raw, drained by N stream
   workers (``python -m streams``, one group); rate from the outputs' broker timestamps, cores
   = the workers' CPU seconds / that span;
2. end to end: ``fieldstream up --workers N`` as a Stack (N stream workers, the sink with N
   consumers, the gateway), ``--e2e-events`` events POSTed in 100-event batches over 8
   connections until all are queryable; cores = CPU seconds of every process of the stack
   (broker included) / the wall time.

The machine's core count is printed beside them: more workers than cores cannot go faster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.events import BenchState, encoded_contacts, good_events
from bench.pipeline import post_all, wait_count
from bench.stream import REPO, env_of, metric, output_span, prefill, proc_cpu_s, round_settings
from core.kafka import ensure_topics
from core.settings import KafkaSettings, Settings, TopicNames
from fieldstream.embedded import free_port, start_tansu
from fieldstream.stack import Stack


def stream_stage(
    base: Settings, n_workers: int, records: list[Any], workdir: Path
) -> dict[str, Any]:
    s = round_settings(base, f"scale{n_workers}")
    prefill(s, records)
    n = len(records)
    procs = []
    urls = []
    for i in range(n_workers):
        w = s.model_copy(deep=True)
        w.stream.web_port = free_port()
        urls.append(f"http://{w.stream.web_host}:{w.stream.web_port}/metrics")
        with (workdir / f"scale{n_workers}-{i}.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "streams"],
                    cwd=REPO,
                    env=env_of(w),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        cpu0 = [0.0] * n_workers
        started = [False] * n_workers
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = 0.0
            for i, url in enumerate(urls):
                got = metric(url, "fieldstream_stream_events_in_total")
                if not started[i] and got == 0.0:
                    cpu0[i] = proc_cpu_s(procs[i].pid)  # before it processed anything
                started[i] = started[i] or got > 0
                done += got
            if done >= n:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a worker exited; see {workdir}")
            time.sleep(0.2)
        cpu = sum(proc_cpu_s(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    count, span = output_span(s.kafka.bootstrap_servers, s.kafka.topics.enriched, n)
    return {"events": count, "seconds": span, "cpu_s": cpu}


def tree_cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that is gone counts nothing
            total += proc_cpu_s(pid)
    return total


def end_to_end(n_workers: int, n: int, workdir: Path) -> dict[str, Any]:
    port = free_port()
    tansu = start_tansu(port, workdir / f"e2e{n_workers}-tansu.log")
    try:
        kafka = KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{port}", topics=TopicNames(), partitions=4
        )
        settings = Settings(data_dir=workdir / f"e2e{n_workers}", kafka=kafka)
        settings.gateway.port = free_port()
        settings.stream.web_port = free_port()
        settings.sink.query_port = free_port()
        state = BenchState.create(settings, workdir / f"e2e{n_workers}")
        with Stack(
            settings, workdir / f"e2e{n_workers}-logs", start_broker=False, workers=n_workers
        ) as stack:
            stack.start_core()
            state.load_voters(settings)
            stack.start_pipeline()
            url = f"http://{settings.gateway.host}:{settings.gateway.port}/v1/events"
            now = dt.datetime.now(dt.UTC)
            rng = random.Random(5)
            asyncio.run(post_all(url, state.headers, good_events(state, rng, 200, now, "warm")))
            wait_count(settings, "source_system = 'warm'", 200)
            events = good_events(state, rng, n, now, "scale")
            pids = [tansu.pid, *(s.proc.pid for s in stack.services)]
            cpu0, t0 = tree_cpu_s(pids), time.perf_counter()
            asyncio.run(post_all(url, state.headers, events))
            t1 = wait_count(settings, "source_system = 'scale'", n)
            cpu = tree_cpu_s(pids) - cpu0
    finally:
        tansu.terminate()
        tansu.wait(10)
    return {"events": n, "seconds": t1 - t0, "cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--e2e-events", type=int, default=20_000)
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fieldstream-bench-scale-"))
    port = free_port()
    tansu = start_tansu(port, workdir / "tansu.log")
    rows = []
    try:
        kafka = KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{port}", partitions=max(4, *args.workers)
        )
        base = Settings(data_dir=workdir / "data", kafka=kafka)
        state = BenchState.create(base, workdir)
        ensure_topics(base.kafka)
        state.load_voters(base)
        records = encoded_contacts(state, args.events, "scale")
        for n in args.workers:
            print(f"{n} worker(s): stream stage draining {args.events} events ...", flush=True)
            stage = stream_stage(base, n, records, workdir)
            print(f"{n} worker(s): end to end, {args.e2e_events} events ...", flush=True)
            e2e = end_to_end(n, args.e2e_events, workdir)
            rows.append((n, stage, e2e))
    finally:
        tansu.terminate()
        tansu.wait(10)
    print()
    print(f"machine: {os.cpu_count()} cores; logs in {workdir}")
    print(f"{'workers':<9}{'stage ev/s':>11}{'cores':>7}{'ev/s/core':>11}  |")
    for n, stage, e2e in rows:
        rate = stage["events"] / stage["seconds"]
        cores = stage["cpu_s"] / stage["seconds"]
        e_rate = e2e["events"] / e2e["seconds"]
        e_cores = e2e["cpu_s"] / e2e["seconds"]
        print(
            f"{n:<9}{rate:>11.0f}{cores:>7.2f}{rate / cores:>11.0f}  |  "
            f"end to end {e_rate:>7.0f} ev/s, {e_cores:.2f} cores, {e_rate / e_cores:.0f} ev/s/core"
        )


if __name__ == "__main__":
    main()
