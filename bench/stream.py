"""The stream stage alone: the Faust worker (``python -m streams``) beside a plain confluent-kafka
loop doing the same work (bench/plainloop.py), on the same broker, the same prefilled events.

    .venv/bin/python -m bench.stream [--events 200000] [--repeat 3]

Each round prefills ``--events`` Avro contacts (as the gateway writes them) on a fresh raw topic
for each contender, then lets it drain them to its own enriched topic. The rate is read from
the output itself: events / (last output's broker timestamp - first output's), so start-up and
group joins are outside the figure for both. CPU is the contender's process CPU per event.
Rounds alternate plain, Faust, so both see the same machine; the table gives each round and
the medians, with the ratio Faust / plain.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.events import BenchState, encoded_contacts
from core.kafka import ensure_topics, producer_config
from core.settings import KafkaSettings, Settings, TopicNames
from fieldstream.embedded import free_port, start_tansu
from fieldstream.stack import settings_env

REPO = Path(__file__).resolve().parents[1]


def prefill(settings: Settings, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(settings.kafka))
    topic = settings.kafka.topics.raw
    for i, (key, value) in enumerate(records):
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise SystemExit("prefill was not acknowledged")


def output_span(bootstrap: str, topic: str, n: int, timeout_s: float = 120) -> tuple[int, float]:
    """(messages, seconds between the first and the last broker timestamp) on ``topic``."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        pending, count, first, last = set(parts), 0, None, None
        deadline = time.monotonic() + timeout_s
        while (pending or count < n) and time.monotonic() < deadline:
            for m in c.consume(10_000, 0.2):
                err = m.error()
                if err is None:
                    count += 1
                    ts = m.timestamp()[1]
                    first = ts if first is None else min(first, ts)
                    last = ts if last is None else max(last, ts)
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
        if first is None or last is None:
            raise SystemExit(f"nothing on {topic}")
        return count, (last - first) / 1000
    finally:
        c.close()


def round_settings(base: Settings, name: str) -> Settings:
    s = base.model_copy(deep=True)
    s.kafka.topics = TopicNames(
        raw=f"raw.{name}",
        enriched=f"enriched.{name}",
        dlq=f"dlq.{name}",
        voters="voters",
        raw_bulk=f"raw-bulk.{name}",
        enriched_bulk=f"enriched-bulk.{name}",
    )
    s.stream.app_id = f"bench-{name}"
    s.stream.web_port = free_port()
    ensure_topics(s.kafka)
    changelog = f"{s.stream.app_id}-dedupe-changelog"
    admin = AdminClient({"bootstrap.servers": s.kafka.bootstrap_servers})
    admin.create_topics([NewTopic(changelog, s.kafka.partitions, 1)])[changelog].result(15)
    return s


def env_of(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
    env.update(settings_env(settings), PYTHONUNBUFFERED="1")
    return env


def run_plain(settings: Settings, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.plainloop", str(n)],
        cwd=REPO,
        env=env_of(settings),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"the plain loop failed:\n{out.stderr[-3000:]}")
    result = dict(json.loads(out.stdout.strip().splitlines()[-1]))
    count, span = output_span(settings.kafka.bootstrap_servers, settings.kafka.topics.enriched, n)
    return {"events": count, "seconds": span, "cpu_s": result["cpu_s"]}


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def metric(url: str, name: str) -> float:
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def run_faust(settings: Settings, n: int, log_path: Path) -> dict[str, Any]:
    s = settings.stream
    base = f"http://{s.web_host}:{s.web_port}"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams"],
            cwd=REPO,
            env=env_of(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        cpu0 = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited; see {log_path}")
            done = metric(f"{base}/metrics", "fieldstream_stream_events_in_total")
            if cpu0 is None and done == 0:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        cpu0 = proc_cpu_s(proc.pid)  # ready: voters read, agent started
                except httpx.HTTPError:
                    pass
            if done >= n:
                break
            time.sleep(0.2)
        cpu = proc_cpu_s(proc.pid) - (cpu0 or 0.0)
    finally:
        proc.terminate()
        proc.wait(30)
    count, span = output_span(settings.kafka.bootstrap_servers, settings.kafka.topics.enriched, n)
    return {"events": count, "seconds": span, "cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fieldstream-bench-stream-"))
    port = free_port()
    tansu = start_tansu(port, workdir / "tansu.log")
    try:
        kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
        base = Settings(data_dir=workdir / "data", kafka=kafka)
        state = BenchState.create(base, workdir)
        ensure_topics(base.kafka)
        state.load_voters(base)
        print(f"encoding {args.events} contacts ...", flush=True)
        records = encoded_contacts(state, args.events, "bench")
        rows: list[tuple[str, dict[str, Any]]] = []
        for r in range(args.repeat):
            for who in ("plain", "faust"):
                s = round_settings(base, f"{who}{r}")
                prefill(s, records)
                print(f"round {r + 1}: {who} draining {args.events} events ...", flush=True)
                if who == "plain":
                    res = run_plain(s, args.events)
                else:
                    res = run_faust(s, args.events, workdir / f"stream-{r}.log")
                rows.append((who, res))
    finally:
        tansu.terminate()
        tansu.wait(10)

    print()
    head = f"{'round':<8}{'contender':<12}{'events':>9}{'seconds':>9}{'events/s':>10}"
    print(f"{head}{'cpu µs/ev':>11}")
    rates: dict[str, list[float]] = {"plain": [], "faust": []}
    cpus: dict[str, list[float]] = {"plain": [], "faust": []}
    ratios = []
    for i, (who, res) in enumerate(rows):
        rate = res["events"] / max(res["seconds"], 1e-9)
        cpu = res["cpu_s"] / max(res["events"], 1) * 1e6
        rates[who].append(rate)
        cpus[who].append(cpu)
        line = f"{i // 2 + 1:<8}{who:<12}{res['events']:>9}{res['seconds']:>9.2f}{rate:>10.0f}"
        print(f"{line}{cpu:>11.1f}")
        if who == "faust":
            ratios.append(rate / rates["plain"][-1])
    print()
    for who in ("plain", "faust"):
        print(
            f"median {who:<6} {statistics.median(rates[who]):>8.0f} events/s, "
            f"{statistics.median(cpus[who]):.1f} µs CPU per event"
        )
    print(
        f"ratio faust / plain per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
        f"median {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
