"""Voter-file load rate: ``fieldstream load-voters`` on a statewide-shaped file, beside a baseline.

    python -m bench.voterfile [--rows 1000000] [--unknown-race 0.3]

Writes an N-row file in North Carolina's ncvoter layout (tab-delimited, the ``nc`` preset),
with a share of rows whose race is unknown so BISG fills them, starts an embedded Tansu, and
times, each in its own process (so each peak RSS is that run's alone):

- ``baseline``: read the file with the csv module and produce one pre-encoded Voter per row
  (the I/O floor of any loader: no validation, no conversion, no encoding);
- ``load``: ``load_voters`` with the preset and BISG off (validate pass + send pass);
- ``load+bisg``: the same with BISG filling the unknown rows.

Prints rows/s, the ratio to the baseline, and peak RSS; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
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

from confluent_kafka import Producer

from core.kafka import ensure_topics, producer_config
from core.settings import KafkaSettings, TopicNames
from fieldstream.embedded import free_port, start_tansu
from producers.voterfile import load_voters
from schemas import VOTER, AvroCodec

HEADER = [
    "county_id", "county_desc", "voter_reg_num", "ncid", "last_name", "first_name",
    "middle_name", "status_cd", "res_city_desc", "state_cd", "zip_code", "race_code",
    "ethnic_code", "party_cd", "gender_code", "birth_year", "age_at_year_end", "precinct_abbrv",
    "precinct_desc", "cong_dist_abbrv", "nc_senate_abbrv", "nc_house_abbrv",
]  # fmt: skip
SURNAMES = ["SMITH", "JOHNSON", "WILLIAMS", "GARCIA", "NGUYEN", "WASHINGTON", "KIM", "LOPEZ"]
ZIPS = ["27601", "27701", "28202", "27403", "28301", "27858"]


def write_file(path: Path, rows: int, unknown: float, seed: int = 3) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="latin-1") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(HEADER)
        for i in range(rows):
            race = "U" if rng.random() < unknown else rng.choice("WBAIMO")
            ethnic = "UN" if race == "U" else rng.choice(["HL", "NL"])
            year = rng.randint(1930, 2007)
            w.writerow(
                [
                    "92", "WAKE", f"{i:09d}", f"AA{i:08d}", rng.choice(SURNAMES), "X", "", "A",
                    "RALEIGH", "NC", rng.choice(ZIPS), race, ethnic, "UNA",
                    rng.choice("FMU"), year, 2026 - year, f"{i % 200:02d}-{i % 7:02d}",
                    "P", str(1 + i % 14), str(1 + i % 50), str(1 + i % 120),
                ]
            )  # fmt: skip


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def kafka_settings(bootstrap: str, name: str) -> KafkaSettings:
    topics = TopicNames(
        raw=f"r-{name}",
        enriched=f"e-{name}",
        dlq=f"d-{name}",
        voters=name,
        raw_bulk=f"rb-{name}",
        enriched_bulk=f"eb-{name}",
    )
    return KafkaSettings(bootstrap_servers=bootstrap, topics=topics)


def baseline(path: Path, kafka: KafkaSettings) -> int:
    ensure_topics(kafka)
    value = AvroCodec().encode(
        VOTER, {"voter_id": "x", "state": "NC", "updated_at": dt.datetime.now(dt.UTC)}
    )
    producer, n = Producer(producer_config(kafka)), 0
    with path.open(newline="", encoding="latin-1") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            while True:
                try:
                    producer.produce(kafka.topics.voters, value, f"NC:{row['ncid']}".encode())
                    break
                except BufferError:
                    producer.poll(0.1)
            n += 1
            if n % 10_000 == 0:
                producer.poll(0)
    producer.flush(120)
    return n


def child(phase: str, path: Path, bootstrap: str) -> dict[str, Any]:
    kafka = kafka_settings(bootstrap, f"voters-{phase.replace('+', '-')}")
    started = time.perf_counter()
    if phase == "baseline":
        rows = baseline(path, kafka)
    else:
        rows = load_voters(path, None, kafka, preset="nc", bisg=phase == "load+bisg").sent
    seconds = time.perf_counter() - started
    return {"phase": phase, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--unknown-race", type=float, default=0.3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, path, bootstrap = args.child
        print(json.dumps(child(phase, Path(path), bootstrap)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ncvoter_bench.txt"
        t0 = time.perf_counter()
        write_file(path, args.rows, args.unknown_race)
        size = path.stat().st_size / 2**20
        print(f"file: {args.rows:,} rows, {size:.0f} MiB in {time.perf_counter() - t0:.1f}s")
        port = free_port()
        tansu = start_tansu(port, Path(tmp) / "tansu.log")
        try:
            results = {}
            for phase in ("baseline", "load", "load+bisg"):
                cmd = [sys.executable, "-m", "bench.voterfile", "--child", phase, str(path)]
                out = subprocess.run(
                    [*cmd, f"127.0.0.1:{port}"], capture_output=True, text=True, check=True
                )
                results[phase] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            tansu.terminate()
            tansu.wait(10)
    base = results["baseline"]["rows"] / results["baseline"]["seconds"]
    print(f"{'phase':<10} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'vs base':>8} {'peak RSS':>9}")
    for phase, r in results.items():
        rate = r["rows"] / r["seconds"]
        print(
            f"{phase:<10} {r['rows']:>10,} {r['seconds']:>8.1f} {rate:>9,.0f} "
            f"{rate / base:>7.2f}x {r['peak_rss_mb']:>7.0f}MB"
        )


if __name__ == "__main__":
    main()
