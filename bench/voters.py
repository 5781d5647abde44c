"""The voter directory at the scale of a state: load time, memory, restart recovery, lookups.

    python -m bench.voters [--voters 5000000]      # default 1,000,000

Produces N Voter records to a voters topic on an embedded Tansu, then measures, each in its
own process (so each RSS figure is that store's alone): ``consume``, the baseline, a plain
consumer reading the topic to its end and storing nothing; ``memory`` / ``rocks``, the
VoterDirectory loading it into the dict or a fresh RocksDB store, then the stage's work
(``process_batch``) on contacts of those voters with the directory's lookup beside a plain
dict of the same keys; ``recover``, the RocksDB store reopened with nothing changed, then
after 1% of the voters changed. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from core.config import Programs
from core.kafka import producer_config
from core.settings import KafkaSettings
from fieldstream.embedded import free_port, start_tansu
from schemas import CONTACT_EVENT, VOTER, AvroCodec
from schemas.ids import event_id_for, voter_key
from streams.logic.enrich import zigzag_long
from streams.logic.process import Context, Message, now_ms, process_batch
from streams.voters import MemoryVoterStore, RocksVoterStore, VoterDirectory, VoterStore

CODEC = AvroCodec()
HEADER_LEN = 10  # single-object encoding: 0xC3 0x01 + 8-byte fingerprint
RACES = ["white", "black", "latino", "asian", "other", "unknown"]
SOURCES = ["self_reported", "vendor_model", "bisg"]
CONTACT = {
    "source_system": "bench",
    "org_id": "bench-org",
    "campaign_id": "bench-campaign",
    "channel": "door",
    "contact_type": "walk",
    "input_method": "mobile_app",
    "result": "canvassed",
    "result_raw": "canvassed",
    "responses": [{"question_id": "support", "answer": "y", "support_level": 3}],
}
BASELINE_CONF = {"group.id": "bench", "enable.partition.eof": True, "fetch.wait.max.ms": 20}


def rss_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), in MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(rest.split()[0]) / 1024
    return out


def voter_templates(k: int = 997) -> list[bytes]:
    """Voter bodies after an empty voter_id (its length byte 0 dropped), ``k`` varieties."""
    rng = random.Random(7)
    out = []
    for i in range(k):
        source = rng.choice(SOURCES)
        voter = {
            "voter_id": "",
            "state": "ZZ",
            "county": f"C{i % 67:02d}",
            "precinct": f"P{i % 300:04d}",
            "congressional_district": f"{1 + i % 13}",
            "state_senate_district": f"{1 + i % 50}",
            "state_house_district": f"{1 + i % 120}",
            "birth_year": rng.randint(1925, 2007),
            "sex": rng.choice(["female", "male"]),
            "race": rng.choice(RACES),
            "race_source": source,
            "race_probability": None if source == "self_reported" else rng.random(),
            "ethnicity": rng.choice(["hispanic", "not_hispanic"]),
            "ethnicity_source": source,
            "precinct_lat": 35 + rng.random(),
            "precinct_lon": -80 - rng.random(),
            "updated_at": 1_760_000_000_000,
        }
        raw = CODEC.encode(VOTER, voter)
        out.append(raw[HEADER_LEN + 1 :])
    return out


def voter_records(ids: Iterator[int], variant: int = 0) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) per voter id, spliced (header, id, template body) as the codec writes it."""
    header = CODEC.encode(VOTER, {"voter_id": "", "state": "ZZ", "updated_at": 0})[:HEADER_LEN]
    bodies = voter_templates()
    assert CODEC.decode(header + b"\x04V0" + bodies[0], expect=VOTER)[1]["voter_id"] == "V0"
    for i in ids:
        vid = f"V{i:08d}".encode()
        value = b"".join((header, zigzag_long(len(vid)), vid, bodies[(i + variant) % len(bodies)]))
        yield voter_key("ZZ", vid.decode()).encode(), value


def produce(
    bootstrap: str, topic: str, records: Iterator[tuple[bytes, bytes]]
) -> tuple[int, float]:
    producer = Producer(producer_config(KafkaSettings(bootstrap_servers=bootstrap)))
    started, n = time.perf_counter(), 0
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("voters were not all delivered")
    return n, time.perf_counter() - started


# -- the measurements, each in its own process --------------------------------------------


def consume_baseline(bootstrap: str, topic: str) -> dict[str, Any]:
    """Read every partition to its end with the directory's consumer settings; keep nothing."""
    c = Consumer({"bootstrap.servers": bootstrap, **BASELINE_CONF})
    started = time.perf_counter()
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    pending, n = set(parts), 0
    while pending:
        for m in c.consume(10_000, 0.2):
            err = m.error()
            if err is None:
                n += 1
            elif err.code() == KafkaError._PARTITION_EOF:
                pending.discard(m.partition() or 0)
    seconds = time.perf_counter() - started
    c.close()
    return {"records": n, "seconds": seconds, "per_s": n / seconds, **rss_mb()}


def load(bootstrap: str, topic: str, store: VoterStore) -> tuple[VoterDirectory, dict[str, Any]]:
    before = rss_mb()["VmRSS"]
    d = VoterDirectory({"bootstrap.servers": bootstrap}, topic, CODEC, store)
    started = time.perf_counter()
    d.start()
    if not d.wait_caught_up(1800):
        raise RuntimeError("the directory did not catch up")
    seconds = time.perf_counter() - started
    d.stop()
    mem = rss_mb()
    figures: dict[str, Any] = {"voters": len(store), "applied": d.applied}
    figures.update(started_over=d.started_over, seconds=seconds, per_s=d.applied / seconds)
    figures["rss_added_mb"] = mem["VmRSS"] - before
    return d, {**figures, **mem}


def contacts(n_voters: int, n: int) -> tuple[list[Message], list[str]]:
    """``n`` encoded contacts of random voters, and the voter keys they name."""
    rng = random.Random(3)
    now = dt.datetime.now(dt.UTC)
    out: list[Message] = []
    keys: list[str] = []
    for i in range(n):
        voter_id = f"V{rng.randrange(n_voters):08d}"
        keys.append(voter_key("ZZ", voter_id))
        event: dict[str, Any] = {
            **CONTACT,
            "event_id": event_id_for("bench-org", "bench", str(i)),
            "source_event_id": str(i),
            "occurred_at": now - dt.timedelta(seconds=rng.randint(0, 3600)),
            "received_at": now,
            "person": {"voter_id": voter_id, "state": "ZZ"},
        }
        out.append((CODEC.encode(CONTACT_EVENT, event), event["event_id"].encode(), "raw", 0, i))
    return out, keys


def enrichment(d: VoterDirectory, n_voters: int, n: int) -> dict[str, Any]:
    """process_batch in batches of 1000 with the directory's lookup vs a plain dict of the
    same keys (best of three, after a warm-up that does the first-hit checks)."""
    messages, keys = contacts(n_voters, n)
    programs = Programs({"bench-org": frozenset({"bench-campaign"})})
    plain = {k: d.store.get(k) for k in keys}
    lookups: dict[str, Callable[[str], bytes | None]] = {
        "dict": plain.get,
        "directory": d.get_bytes,
    }
    at = now_ms()

    def run(lookup: Callable[[str], bytes | None]) -> float:
        ctx = Context.build(CODEC, programs, lookup, set().__contains__)
        started = time.perf_counter()
        matched = 0
        for i in range(0, n, 1000):
            result = process_batch(messages[i : i + 1000], ctx, at)
            matched += sum(o.voter_matched for o in result.outcomes)
        assert matched == n, f"only {matched} of {n} contacts matched a voter"
        return n / (time.perf_counter() - started)

    def probe(lookup: Callable[[str], bytes | None]) -> float:
        started = time.perf_counter()
        for k in keys:
            lookup(k)
        return len(keys) / (time.perf_counter() - started)

    run(d.get_bytes)  # warm-up: first hits are checked (decoded) once
    events = {"dict": 0.0, "directory": 0.0}
    plain_lookups = dict.fromkeys(lookups, 0.0)
    for _ in range(3):  # interleaved, so both see the same machine
        for name in events:
            events[name] = max(events[name], run(lookups[name]))
        for name, f in lookups.items():
            plain_lookups[name] = max(plain_lookups[name], probe(f))
    return {
        "events_per_s": events,
        "ratio": events["directory"] / events["dict"],
        "lookups_per_s": plain_lookups,
        "lookup_ratio": plain_lookups["directory"] / plain_lookups["dict"],
    }


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def child(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap, topic, path = args.bootstrap, args.topic, Path(args.store)
    if args.phase == "consume":
        return consume_baseline(bootstrap, topic)
    if args.phase == "memory":
        d, figures = load(bootstrap, topic, MemoryVoterStore())
        return {**figures, "enrich": enrichment(d, args.voters, args.contacts)}
    started = time.perf_counter()
    store = RocksVoterStore(path)
    opened = time.perf_counter() - started
    try:
        d, figures = load(bootstrap, topic, store)
        figures.update(open_s=opened, disk_mb=disk_mb(path))
        if args.phase == "rocks" or args.enrich:
            figures["enrich"] = enrichment(d, args.voters, args.contacts)
        return figures
    finally:
        store.close()


# -- the driver ----------------------------------------------------------------------------


def run_child(
    phase: str, args: argparse.Namespace, bootstrap: str, topic: str, enrich: bool = False
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.voters", "--phase", phase, "--bootstrap", bootstrap]
    cmd += ["--enrich"] if enrich else []
    cmd += ["--topic", topic, "--store", str(args.workdir / "voters.rocksdb")]
    cmd += ["--voters", str(args.voters), "--contacts", str(args.contacts)]
    with open(args.workdir / f"{phase}.log", "ab") as log:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, check=True, timeout=1800)
    result: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    print(f"  {phase}: {json.dumps(result)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voters", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None)
    for hidden in ("--phase", "--bootstrap", "--topic", "--store"):  # the measuring children
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--enrich", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.phase:
        print(json.dumps(child(args)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-voters-") as tmp:
        args.workdir = args.workdir or Path(tmp)
        args.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        tansu = start_tansu(port, args.workdir / "tansu.log")
        try:
            report(args, f"127.0.0.1:{port}")
        finally:
            tansu.terminate()
            tansu.wait(10)


def report(args: argparse.Namespace, bootstrap: str) -> None:
    n, topic = args.voters, "voters.bench"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    compact = {"cleanup.policy": "compact"}
    admin.create_topics([NewTopic(topic, 2, 1, config=compact)])[topic].result(15)
    print(f"voters: {n:,} on a 2-partition topic; contacts: {args.contacts:,}", flush=True)
    sent, seconds = produce(bootstrap, topic, voter_records(iter(range(n))))
    print(f"  produced {sent:,} voters in {seconds:.1f}s ({sent / seconds:,.0f}/s)", flush=True)
    r = {
        phase: run_child(phase, args, bootstrap, topic) for phase in ("consume", "memory", "rocks")
    }
    r["recover_same"] = run_child("recover", args, bootstrap, topic, enrich=True)
    changed = sorted(random.Random(5).sample(range(n), max(1, n // 100)))
    sent, _ = produce(bootstrap, topic, voter_records(iter(changed), variant=1))
    r["recover_1pct"] = run_child("recover", args, bootstrap, topic)

    base = r["consume"]["per_s"]
    print(f"\n== {n:,} voters ==")
    print(f"baseline consume (no store): {base:,.0f} records/s, {r['consume']['seconds']:.1f}s")
    for name in ("memory", "rocks", "recover_same"):
        f = r[name]
        e = f["enrich"]
        if name == "recover_same":
            name = "rocks, after a restart,"
        else:
            print(
                f"{name:>6} load: {f['seconds']:.1f}s, {f['per_s']:,.0f} voters/s "
                f"({f['per_s'] / base:.2f}x consume), RSS +{f['rss_added_mb']:,.0f} MiB "
                f"(total {f['VmRSS']:,.0f}, peak {f['VmHWM']:,.0f})"
                + (f", disk {f['disk_mb']:,.0f} MiB before compaction" if "disk_mb" in f else "")
            )
        print(
            f"{name:>6} enrich: {e['events_per_s']['directory']:,.0f} events/s vs "
            f"{e['events_per_s']['dict']:,.0f} with a dict ({e['ratio']:.2f}x); lookups "
            f"{e['lookups_per_s']['directory']:,.0f}/s vs {e['lookups_per_s']['dict']:,.0f}/s "
            f"({e['lookup_ratio']:.2f}x)"
        )
    for name, what in (("recover_same", "nothing changed"), ("recover_1pct", f"{sent:,} changed")):
        f = r[name]
        print(
            f" rocks restart, {what}: open {f['open_s']:.2f}s + catch up {f['seconds']:.2f}s, "
            f"{f['applied']:,} records applied (started over: {f['started_over']}), "
            f"RSS +{f['rss_added_mb']:,.0f} MiB, disk {f['disk_mb']:,.0f} MiB"
        )
    print(json.dumps({"voters": n, **r}))


if __name__ == "__main__":
    main()
