"""Vote-history load rate: ``load-vote-history`` on a million-row ncvhis-shaped file.

    python -m bench.vote_history [--rows 1000000]

Writes an N-row file in North Carolina's ``ncvhis`` layout (tab-delimited, every field quoted,
15 columns, one row per voter per election across five elections) and times, each in its own
process so each peak RSS is that run's alone:

- ``read``: iterate the file's rows with the csv module and nothing else (the plain read);
- ``read+insert``: the same read, the five stored columns of each row inserted into a fresh chDB
  in 100k-row batches (the floor of any loader writing to the store: no mapping, no checks);
- ``load``: ``sinks.vote_history.load_vote_history`` with the ``nc`` preset into a fresh chDB.

Prints rows/s, the ratio to each baseline, and peak RSS; asserts nothing.
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

HEADER = [
    "county_id", "county_desc", "voter_reg_num", "election_lbl", "election_desc",
    "voting_method", "voted_party_cd", "voted_party_desc", "pct_label", "pct_description",
    "ncid", "voted_county_id", "voted_county_desc", "vtd_label", "vtd_description",
]  # fmt: skip
ELECTIONS = [
    ("11/05/2024", "11/05/2024 GENERAL"), ("03/05/2024", "03/05/2024 PRIMARY"),
    ("11/08/2022", "11/08/2022 GENERAL"), ("05/17/2022", "05/17/2022 PRIMARY"),
    ("11/03/2020", "11/03/2020 GENERAL"),
]  # fmt: skip
METHODS = ["ABSENTEE ONESTOP", "ELECTION DAY IN-PERSON", "ABSENTEE BY MAIL", "PROVISIONAL"]
PARTIES = [("DEM", "DEMOCRATIC"), ("REP", "REPUBLICAN"), ("UNA", "UNAFFILIATED")]
BATCH = 100_000


def write_file(path: Path, rows: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    voters = max(1, rows * 2 // 5)
    with path.open("w", encoding="latin-1", newline="") as f:
        f.write("\t".join(f'"{c}"' for c in HEADER) + "\n")
        for _ in range(rows):
            v = rng.randrange(voters)
            label, desc = rng.choice(ELECTIONS)
            party = rng.choice(PARTIES)
            fields = [
                "92", "WAKE", f"{v:012d}", label, desc, rng.choice(METHODS), *party,
                f"{v % 200:02d}-{v % 7:02d}", "PRECINCT", f"AA{v:08d}", "92", "WAKE", "01", "01",
            ]  # fmt: skip
            f.write("\t".join(f'"{x}"' for x in fields) + "\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_read(path: Path) -> int:
    n = 0
    with path.open(encoding="latin-1", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader)
        for _row in reader:
            n += 1
    return n


def read_insert(path: Path, chdb_dir: Path) -> int:
    from sinks.migrate import migrate
    from sinks.store import LockedStore, open_store
    from sinks.vote_history import COLUMNS

    store = LockedStore(open_store(f"chdb://{chdb_dir}"))
    migrate(store.client)
    at, n, batch = dt.datetime.now(dt.UTC), 0, []
    with path.open(encoding="latin-1", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader)
        for row in reader:
            day = dt.date(int(row[3][6:]), int(row[3][:2]), int(row[3][3:5]))
            batch.append(["NC", row[10], day, row[4], row[5], "bench", at])
            n += 1
            if len(batch) >= BATCH:
                store.insert("vote_history", COLUMNS, batch)
                batch = []
    if batch:
        store.insert("vote_history", COLUMNS, batch)
    store.close()
    return n


def load(path: Path, chdb_dir: Path) -> int:
    from sinks.migrate import migrate
    from sinks.remote import DirectAccess
    from sinks.store import LockedStore, open_store
    from sinks.vote_history import load_vote_history
    from sinks.vote_history_mapping import load_history_mapping

    store = LockedStore(open_store(f"chdb://{chdb_dir}"))
    migrate(store.client)
    summary = load_vote_history(DirectAccess(store), path, load_history_mapping(None, "nc"))
    store.close()
    return summary.rows_read


def child(phase: str, path: Path, tmp: Path) -> dict[str, Any]:
    started = time.perf_counter()
    if phase == "read":
        rows = plain_read(path)
    elif phase == "read+insert":
        rows = read_insert(path, tmp / "chdb-baseline")
    else:
        rows = load(path, tmp / "chdb-load")
    seconds = time.perf_counter() - started
    return {"phase": phase, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, path, tmp = args.child
        print(json.dumps(child(phase, Path(path), Path(tmp))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ncvhis_bench.txt"
        t0 = time.perf_counter()
        write_file(path, args.rows)
        size = path.stat().st_size / 2**20
        print(f"file: {args.rows:,} rows, {size:.0f} MiB in {time.perf_counter() - t0:.1f}s")
        results = {}
        for phase in ("read", "read+insert", "load"):
            cmd = [sys.executable, "-m", "bench.vote_history", "--child", phase, str(path), tmp]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    read = results["read"]["rows"] / results["read"]["seconds"]
    floor = results["read+insert"]["rows"] / results["read+insert"]["seconds"]
    print(
        f"{'phase':<12} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'vs read':>8} "
        f"{'vs r+ins':>8} {'peak RSS':>9}"
    )
    for phase, r in results.items():
        rate = r["rows"] / r["seconds"]
        print(
            f"{phase:<12} {r['rows']:>10,} {r['seconds']:>8.1f} {rate:>9,.0f} "
            f"{rate / read:>7.2f}x {rate / floor:>7.2f}x {r['peak_rss_mb']:>7.0f}MB"
        )


if __name__ == "__main__":
    main()
