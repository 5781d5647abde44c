"""Universe load with a holdout: ``load-universe --holdout`` beside the plain load, same file.

    python -m bench.holdout [--voters 500000]

Writes an N-row universe CSV and times in separate processes, each filling its own fresh chDB with
the N voters first (state ZZ, 400 precincts, five races; not timed), so each peak RSS is its
own: ``load``, sinks.loaders.load_universe; ``holdout``, sinks.universe_holdout with 10% held out,
stratified by precinct and race (staging, the join with voters, the draw, the insert). Prints
rows/s, the ratio to the plain load and peak RSS; asserts nothing.
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

RACES = ("white", "black", "latino", "asian", "other")


def fill(chdb: Path, universe: Path, n: int) -> None:
    """N voters into a fresh store at ``chdb``, and the universe of them as a CSV."""
    from sinks.migrate import migrate
    from sinks.rows import VOTER_COLUMNS
    from sinks.store import LockedStore, open_store

    rng = random.Random(3)
    store = LockedStore(open_store(f"chdb://{chdb}"))
    migrate(store.client)
    now = dt.datetime.now(dt.UTC)
    with universe.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["org_id", "campaign_id", "state", "voter_id", "turf_id"])
        batch = []
        for i in range(n):
            values: dict[str, Any] = dict.fromkeys(VOTER_COLUMNS, "")
            values.update(
                voter_id=f"V{i:08d}", state="ZZ", county=f"C{i % 7}",
                precinct=f"P{rng.randrange(400):03d}", race=rng.choice(RACES),
                birth_year=None, age=None, race_probability=None, ethnicity_probability=None,
                precinct_lat=None, precinct_lon=None, updated_at=now,
            )  # fmt: skip
            batch.append([values[c] for c in VOTER_COLUMNS])
            w.writerow(["org", "gotv", "ZZ", f"V{i:08d}", f"T{i % 50}"])
            if len(batch) == 100_000:
                store.insert("voters", VOTER_COLUMNS, batch)
                batch = []
        if batch:
            store.insert("voters", VOTER_COLUMNS, batch)
    store.close()


def child(phase: str, chdb: Path, universe: Path, n: int) -> dict[str, Any]:
    from sinks.holdout import HoldoutPlan
    from sinks.loaders import load_universe
    from sinks.remote import DirectAccess
    from sinks.store import LockedStore, open_store
    from sinks.universe_holdout import load_universe_holdout

    fill(chdb, universe, n)
    store = DirectAccess(LockedStore(open_store(f"chdb://{chdb}")))
    started = time.perf_counter()
    if phase == "load":
        rows = load_universe(store, universe)
    else:
        plan = HoldoutPlan.parse("0.1", 7, "precinct,race")
        rows = load_universe_holdout(store, universe, plan).rows
    seconds = time.perf_counter() - started
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": phase, "rows": rows, "seconds": seconds, "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voters", type=int, default=500_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        where = Path(args.child[1])
        print(json.dumps(child(args.child[0], where / "chdb", where / "universe.csv", args.voters)))
        return
    results = {}
    for phase in ("load", "holdout"):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "bench.holdout", "--voters", str(args.voters),
                   "--child", phase, tmp]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr)
            results[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"a universe of {args.voters:,} voters")
    plain = results["load"]["rows"] / results["load"]["seconds"]
    print(f"{'phase':<8} {'rows':>9} {'seconds':>8} {'rows/s':>8} {'vs load':>8} {'peak RSS':>9}")
    for phase, r in results.items():
        rate = r["rows"] / r["seconds"]
        print(
            f"{phase:<8} {r['rows']:>9,} {r['seconds']:>8.1f} {rate:>8,.0f} {rate / plain:>7.2f}x "
            f"{r['peak_rss_mb']:>7.0f}MB"
        )


if __name__ == "__main__":
    main()
