"""sinks.heal on chDB: a contact stored while its rollups' views did not run (a sink killed
between the table's insert and the views') is counted again by feeding the views' own SELECT
for it, and feeding it twice changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sinks.heal import RollupFeeds
from sinks.migrate import migrate
from sinks.rows import CONTACT_COLUMNS, EVIDENCE_COLUMNS
from sinks.store import LockedStore, open_store

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 3, 15, 0, tzinfo=dt.UTC)
ROLLUPS = {
    "contact_rollup_daily": "uniqExactMerge(attempts)",
    "contact_rollup_5m": "uniqExactMerge(attempts)",
    "canvasser_rollup_daily": "uniqExactMerge(attempts)",
}


def row(i: int) -> list[object]:
    values: dict[str, object] = {c: "" for c in CONTACT_COLUMNS}
    values.update(
        event_id=f"00000000-0000-0000-0000-{i:012d}",
        org_id="org-a",
        campaign_id="gotv",
        channel="door",
        result="canvassed",
        occurred_at=NOW,
        received_at=NOW,
        enriched_at=NOW,
        is_contact=1,
        has_id=0,
        support_level=None,
        opt_out=0,
        script_completed=None,
        voter_matched=0,
        age=None,
        race_probability=None,
        ethnicity_probability=None,
        precinct_lat=None,
        precinct_lon=None,
        tz="UTC",
        local_day=NOW.date(),
        **dict.fromkeys(EVIDENCE_COLUMNS),  # the standard 1.1's evidence: none here
        activist_codes=[],
        **{"responses.question_id": [], "responses.answer": [], "responses.support_level": []},
    )
    return [values[c] for c in CONTACT_COLUMNS] + ["tok"]


def counts(store: LockedStore) -> dict[str, int]:
    return {
        table: int(store.query(f"SELECT {measure} FROM {table}")[2][0][0])
        for table, measure in ROLLUPS.items()
    }


def test_feeding_the_rollups_again_heals_and_never_counts_twice(tmp_path: Path) -> None:
    store = LockedStore(open_store(f"chdb:///{tmp_path / 'chdb'}"))
    with store.lock:
        migrate(store.client)
    columns = [*CONTACT_COLUMNS, "stored_by"]
    store.insert("contact_events", columns, [row(i) for i in range(10)], "t1")
    assert counts(store) == dict.fromkeys(ROLLUPS, 10)
    # the views did not run for the next five: the sink died between the table and the views
    views = [f"{t}_mv" for t in ROLLUPS]
    for view in views:
        store.command(f"DETACH TABLE {view}")
    store.insert("contact_events", columns, [row(i) for i in range(10, 15)], "t2")
    for view in views:
        store.command(f"ATTACH TABLE {view}")
    assert counts(store) == dict.fromkeys(ROLLUPS, 10)  # drift: 15 stored, 10 counted

    feeds = RollupFeeds(lambda sql: store.query(sql)[2])
    # every view of contact_events is fed again: the rollups, and the ledger keeper's inbox
    # (the keeper recounts the healed cells for the tables the boards read)
    fed = {f.view for f in feeds.feeds["contact_events"]}
    assert set(views) | {"contact_inbox_mv"} <= fed
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(8, 15)]
    for _ in range(2):  # twice: idempotent
        for statement in feeds.statements("contact_events", ids):
            store.command(statement)
        assert counts(store) == dict.fromkeys(ROLLUPS, 15)
    store.close()
