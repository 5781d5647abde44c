"""Ingest latency while analysts query: the query door against the old way, side by side.

    python -m bench.query_door [--seconds 20] [--queries 5]

One chDB store (migrated, 50,000 contacts), one writer inserting 1,000-row contact batches
every 0.25 s through the sink's own writer (``SinkService.write``: the rollups' views, the
insert gate), and four runs of the same length:

- ``quiet``: no queries (the baseline);
- ``door``: ``--queries`` analysts looping a heavy but allowed query through the query door
  (its own clients, at most ``query.concurrency`` at once, none starting during an insert,
  one thread each, a time limit);
- ``door-n0``: the same through a door whose threads keep normal CPU priority
  (``query.nice = 0``), to show what the lowest priority buys;
- ``locked``: the same analysts' query run as /query ran it before the door, on the writer's
  store under its lock (``LockedStore.query``).

Prints each run's insert latency (p50, p99, max) and its ratio to ``quiet``; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.sealing import Sealer
from core.settings import QuerySettings, Settings
from sinks.migrate import migrate
from sinks.query_tokens import Principal
from sinks.rows import CONTACT_COLUMNS
from sinks.service import SinkService
from sinks.store import LockedStore, open_store

HEAVY = (
    "SELECT channel, count(DISTINCT voter_id), uniqExact(event_id), "
    "quantileExact(0.5)(toUnixTimestamp(occurred_at)) FROM contact_events AS a "
    "INNER JOIN (SELECT voter_id, count() AS n FROM contact_events GROUP BY voter_id) AS b "
    "USING voter_id GROUP BY channel"
)
ANALYST = Principal("bench", "analyst", "org-a")
NULLABLE = {"support_level", "age", "race_probability", "ethnicity_probability",
            "precinct_lat", "precinct_lon", "script_completed"}  # fmt: skip


def rows(n: int, start: int) -> list[list[Any]]:
    now = dt.datetime.now(dt.UTC)
    template: dict[str, Any] = {c: None for c in CONTACT_COLUMNS}
    out = []
    for i in range(start, start + n):
        row = dict(template)
        row.update(
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{i}")), source_system="bench",
            source_event_id=str(i), org_id="org-a" if i % 3 else "org-b", campaign_id="gotv",
            program_id="", channel=("door", "phone", "text")[i % 3], contact_type="other",
            input_method="other", occurred_at=now - dt.timedelta(seconds=i % 86_400),
            received_at=now, enriched_at=now, state="PA", voter_id=f"V{i % 20_000}",
            van_id="", state_file_id="", vendor_id="", canvasser_id=f"c{i % 50}", team_id="t",
            turf_id="", list_id="", result="canvassed", result_raw="x", is_contact=1, has_id=0,
            opt_out=0, voter_matched=1, county="Erie", precinct=f"P{i % 40}", age_band="30-44",
            sex="female", race="unknown", race_source="unknown", ethnicity="unknown",
            ethnicity_source="unknown", congressional_district="", state_senate_district="",
            state_house_district="", responses=[], activist_codes=[],
        )  # fmt: skip
        out.append([row[c] if row[c] is not None or c in NULLABLE else "" for c in CONTACT_COLUMNS])
    return out


def run(service: SinkService, seconds: float, analysts: int, ask: Callable[[], Any] | None,
        start: int) -> list[float]:  # fmt: skip
    """Insert latencies (s) over ``seconds`` while ``analysts`` threads call ``ask``."""
    stop = threading.Event()

    def analyst() -> None:
        while not stop.is_set() and ask is not None:
            try:
                ask()
            except Exception:  # busy, or over a limit: the analyst asks again
                time.sleep(0.05)

    threads = [threading.Thread(target=analyst) for _ in range(analysts if ask else 0)]
    for t in threads:
        t.start()
    latencies, n, deadline = [], start, time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = rows(1000, n)
        t0 = time.perf_counter()
        service.write("contact_events", CONTACT_COLUMNS, batch, f"bench:{n}")
        latencies.append(time.perf_counter() - t0)
        n += 1000
        time.sleep(max(0.0, 0.25 - latencies[-1]))
    stop.set()
    for t in threads:
        t.join()
    return latencies


def figures(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--queries", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), query=QuerySettings(queue_wait_s=1.0))
        flat = settings.model_copy(deep=True)
        flat.query.nice = 0
        service = SinkService(settings)
        store = LockedStore(open_store(settings.clickhouse.dsn.get_secret_value()))
        migrate(store.client)
        service.store = store
        service.sealer = Sealer.from_settings(settings.dead_letters, create=True)
        service.open_door()
        assert service.door is not None
        door = service.door
        plain = SinkService(flat)  # the same door, its threads at normal CPU priority
        plain.store, plain.sealer = store, service.sealer
        plain.open_door()
        assert plain.door is not None
        door_flat = plain.door
        for i in range(0, 50_000, 5_000):
            store.insert("contact_events", CONTACT_COLUMNS, rows(5_000, 10**7 + i))
        results = {}
        n = 0
        for name, ask in [
            ("quiet", None),
            ("door", lambda: door.run(ANALYST, HEAVY)),
            ("door-n0", lambda: door_flat.run(ANALYST, HEAVY)),
            ("locked", lambda: store.query(HEAVY)),
        ]:
            results[name] = figures(run(service, args.seconds, args.queries, ask, n))
            n += 10**6
        door.close()
        door_flat.close()
        store.close()
    base = results["quiet"]
    print(f"insert latency of 1,000-row batches, {args.queries} analysts, {args.seconds:g} s each")
    for name, (p50, p99, worst) in results.items():
        print(
            f"  {name:7s} p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
            f"max {worst * 1000:7.1f} ms   p50 x{p50 / base[0]:5.2f}  p99 x{p99 / base[1]:5.2f}"
        )


if __name__ == "__main__":
    main()
