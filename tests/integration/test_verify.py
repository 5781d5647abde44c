"""Rollups that cannot stay wrong: drift made the ways a crash makes it, found by verify, repaired.

On real chDB: the demo-shaped contacts of tests/factories/clock.py are stored, then the store
is put out of step three ways: a block reaches contact_events but not one view (its
materialized view detached, as a sink killed between the table's insert and the view's
leaves it), a contact is stored again with other demographics (its rollups now hold it in two
groups), and a board table is edited by hand. ``verify`` names every difference, ``--repair``
(and the sink's periodic check, which exports the count as a metric) recounts those cells, and
a second verify finds none; every board figure then equals the recount.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.config import CampaignConfig, OrgConfig, Programs, write_programs
from fieldstream.cli import app
from schemas import ENRICHED_CONTACT, AvroCodec
from sinks.keeper import Keeper, periodic_verify
from sinks.migrate import migrate
from sinks.rows import CONTACT_COLUMNS, contact_row
from sinks.store import LockedStore, open_store
from sinks.verify import verify
from sinks.zones import ProgramClock
from tests.factories.clock import ORG, ZONES, by, events

pytestmark = pytest.mark.integration

CODEC = AvroCodec()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[LockedStore, Keeper]]:
    locked = LockedStore(open_store(f"chdb:///{tmp_path / 'chdb'}"))
    migrate(locked.client)
    programs = Programs(
        {ORG: frozenset(ZONES)}, campaign_zones={(ORG, c): z for c, z in ZONES.items()}
    )
    keeper = Keeper(locked, ProgramClock(programs=programs), overlap_s=3650 * 86400)
    keeper.start_up()
    try:
        yield locked, keeper
    finally:
        locked.close()


def rows(recs: list[dict]) -> list[list]:
    return [
        contact_row(r, ZONES[r["contact"]["campaign_id"]])
        for r in (CODEC.decode(CODEC.encode(ENRICHED_CONTACT, e))[1] for e in recs)
    ]


def daily(store: LockedStore) -> dict:
    return {
        (str(c), d): (int(a), int(n))
        for c, d, a, n in store.rows(
            "SELECT campaign_id, day, sum(attempts), sum(contacts) FROM counts_daily "
            "WHERE by_group = 0 GROUP BY campaign_id, day HAVING sum(attempts) > 0"
        )
    }


def test_drift_is_found_and_repaired(store: tuple[LockedStore, Keeper], tmp_path: Path) -> None:
    locked, keeper = store
    first, late = events()[:30], events()[30:]
    locked.insert("contact_events", CONTACT_COLUMNS, rows(first), "verify:0")
    keeper.run_pass()
    assert verify(locked, keeper.clock.zone_of).total == 0

    # 1. a block written to contact_events whose view insert never happened
    locked.command("DETACH TABLE contact_rollup_5m_mv")
    locked.command("DETACH TABLE contact_rollup_daily_mv")
    locked.insert("contact_events", CONTACT_COLUMNS, rows(late), "verify:1")
    locked.command("ATTACH TABLE contact_rollup_5m_mv")
    locked.command("ATTACH TABLE contact_rollup_daily_mv")
    # 2. a contact stored again with other demographics: the views hold it in two groups
    again = copy.deepcopy(first[0])
    again["voter"]["race"], again["voter"]["sex"] = "asian", "unknown"
    locked.insert("contact_events", CONTACT_COLUMNS, rows([again]), "verify:2")
    keeper.run_pass()
    # 3. a board table edited by hand
    locked.insert(
        "counts_daily",
        ["org_id", "campaign_id", "day", "channel", "by_group", "contacts"],
        [[ORG, "east", dt.date(2026, 3, 8), "door", 0, 7]],
    )

    found = verify(locked, keeper.clock.zone_of)
    assert found.differing["contact_rollup_5m"] > 0
    assert found.differing["contact_rollup_daily"] > 0
    assert found.differing["counts_daily"] > 0
    assert not found.repaired and found.examples
    recount = by(events(), ZONES.__getitem__, lambda e, day: (e["contact"]["campaign_id"], day))
    assert daily(locked) != {k: (v["attempts"], v["contacts"]) for k, v in recount.items()}

    # the sink's own check: repairs, and exports what it found
    periodic_verify(0)(keeper)
    exported = keeper.metrics.exposition().decode()
    drift = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in exported.splitlines()
        if line.startswith("fieldstream_verify_differences{")
    }
    assert drift["contact_rollup_5m"] == found.differing["contact_rollup_5m"] > 0
    assert drift["counts_daily"] > 0

    assert verify(locked, keeper.clock.zone_of).total == 0
    assert daily(locked) == {k: (v["attempts"], v["contacts"]) for k, v in recount.items()}
    # the contact stored twice counts once, in the group of its latest copy
    races = dict(
        locked.rows(
            "SELECT race, uniqExactMerge(attempts) FROM contact_rollup_daily "
            f"WHERE campaign_id = '{first[0]['contact']['campaign_id']}' "
            f"AND day = toDate('{_day(first[0])}') GROUP BY race"
        )
    )
    assert (
        races.get("asian") == 1
        and sum(races.values())
        == recount[(first[0]["contact"]["campaign_id"], _day(first[0]))]["attempts"]
    )


def _day(e: dict) -> dt.date:
    from tests.factories.clock import local_day

    return local_day(e["contact"]["occurred_at"], ZONES[e["contact"]["campaign_id"]])


def test_the_verify_command_without_a_sink(tmp_path: Path) -> None:
    dsn = f"chdb:///{tmp_path / 'chdb'}"
    locked = LockedStore(open_store(dsn))
    try:
        migrate(locked.client)
        locked.insert("contact_events", CONTACT_COLUMNS, rows(events()), "verify:cli")
        programs = Programs(
            {ORG: frozenset(ZONES)}, campaign_zones={(ORG, c): z for c, z in ZONES.items()}
        )
        keeper = Keeper(locked, ProgramClock(programs=programs))
        keeper.start_up()  # the sink ran once: the keeper has its mark
        locked.command("DELETE FROM contact_rollup_daily WHERE campaign_id = 'west'")
        campaigns: list[str | CampaignConfig] = [
            CampaignConfig(id=c, timezone=z) for c, z in ZONES.items()
        ]
        write_programs(tmp_path / "programs.yaml", [OrgConfig(id=ORG, campaigns=campaigns)])
        env = {
            "FIELDSTREAM_CLICKHOUSE__DSN": dsn,
            "FIELDSTREAM_DATA_DIR": str(tmp_path),
            "FIELDSTREAM_SINK__QUERY_PORT": "1",  # no sink answers there
        }
        before = CliRunner().invoke(app, ["verify"], env=env)
        assert before.exit_code == 1 and "differ" in before.output, before.output
        repaired = CliRunner().invoke(app, ["verify", "--repair"], env=env)
        assert repaired.exit_code == 0 and "repaired" in repaired.output, repaired.output
        after = CliRunner().invoke(app, ["verify"], env=env)
        assert after.exit_code == 0 and "no difference" in after.output, after.output
    finally:
        locked.close()


def _finalised(locked: LockedStore, table: str) -> set[tuple]:
    """A derived table's figures per key (bitmaps as sorted members), keys with any figure."""
    from sinks.verify import _side, describe

    t = describe(locked, table)
    figures = [c for c, _ in t.counts] + [f"arraySort(bitmapToArray({b}))" for b in t.bitmaps]
    nonzero = [f"toInt64({c}) != 0" for c, _ in t.counts]
    nonzero += [f"bitmapCardinality({b}) != 0" for b in t.bitmaps]
    got = locked.rows(
        f"SELECT {', '.join(t.keys)}, {', '.join(figures)} FROM ({_side(t, table, '')}) "
        f"WHERE {' OR '.join(nonzero)}"
    )
    return {tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in got}


@pytest.mark.parametrize("limit", [3, None])
def test_a_whole_recount_a_few_days_at_a_time_equals_the_views(
    store: tuple[LockedStore, Keeper], monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    """A campaign recounted whole (a store with no keeper mark, a zone change, verify) goes a
    local month at a time, a run of days at a time: with runs of a few contacts (a day of more
    is a run of its own) and with one run a month (October's last local day is stored in
    November's partition), every rollup and board table equals what the views and the
    keeper's passes made, and the Python recount."""
    from sinks import board_tables, cells

    locked, keeper = store
    locked.insert("contact_events", CONTACT_COLUMNS, rows(events()), "verify:0")
    keeper.run_pass()
    tables = [v.rollup.target for v in cells.materialized_views(locked)]
    tables += list(board_tables.TABLES)
    before = {t: _finalised(locked, t) for t in tables}
    assert all(before.values())
    if limit is not None:
        monkeypatch.setattr(cells, "STEP_CONTACTS", limit)
    for campaign in sorted(ZONES):
        days = cells.ledger_days(locked, ORG, campaign)
        months = cells.months(days)
        assert [d for m in months for d in m] == sorted(days)
        assert len(months) > 1 and all(len({(d.year, d.month) for d in m}) == 1 for m in months)
        per_day = dict(
            locked.rows(
                "SELECT local_day, count() FROM contact_events "
                f"WHERE campaign_id = '{campaign}' GROUP BY local_day"
            )
        )
        runs = [r for m in months for r in cells.steps(locked, ORG, campaign, m)]
        assert sorted(d for r in runs for d in r) == sorted(days)
        if limit is not None:
            assert len(runs) > len(months)
            assert any(per_day[d] > limit for d in days)  # such a day is a run of its own
            assert all(len(r) == 1 or sum(per_day[d] for d in r) <= limit for r in runs)
        else:
            assert len(runs) == len(months)
    # an October local day stored in November's partition (UTC), so a month's staging reads
    # beyond its own partition
    assert locked.rows(
        "SELECT count() FROM contact_events WHERE toMonth(local_day) != toMonth(occurred_at)"
    )[0][0]
    cells.rewrite(locked, [], keeper.clock.zone_of, whole=[(ORG, c) for c in sorted(ZONES)])
    assert {t: _finalised(locked, t) for t in tables} == before
    recount = by(events(), ZONES.__getitem__, lambda e, day: (e["contact"]["campaign_id"], day))
    assert daily(locked) == {k: (v["attempts"], v["contacts"]) for k, v in recount.items()}
    # the staging tables are gone
    assert not locked.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND name LIKE 'recount_stage_%'"
    )


def test_a_staging_table_left_by_a_dead_recount_is_dropped(
    store: tuple[LockedStore, Keeper],
) -> None:
    """A process that died in a recount leaves its staging table; the keeper's start-up drops
    those older than a day, never one a recount may still be reading."""
    from sinks import cells

    locked, keeper = store
    now = int(time.time())
    old, fresh = (f"{cells.STAGE_PREFIX}{t}_cafe" for t in (now - 2 * 86_400, now - 60))
    for name in (old, fresh):
        locked.command(f"CREATE TABLE {name} (local_day Date) ENGINE = MergeTree ORDER BY tuple()")
    keeper.start_up()
    assert [locked.rows(f"EXISTS TABLE {name}")[0][0] for name in (old, fresh)] == [0, 1]
    assert cells.drop_stale_stages(locked, older_than_s=0) == [fresh]
    assert locked.rows(f"EXISTS TABLE {fresh}")[0][0] == 0


class _StoresDuringRecount:
    """A Sql that stores ``late`` right after the recount made its staging table: the sink
    storing contacts while the keeper recounts."""

    def __init__(self, locked: LockedStore, late: list[dict]) -> None:
        self.locked, self.late = locked, late

    def rows(self, sql: str) -> list[list]:
        return self.locked.rows(sql)

    def command(self, sql: str) -> None:
        self.locked.command(sql)
        if self.late and sql.startswith("CREATE TABLE recount_stage_"):
            self.locked.insert("contact_events", CONTACT_COLUMNS, rows(self.late), "verify:late")
            self.late = []

    def atomic(self):  # type: ignore[no-untyped-def]
        return self.locked.atomic()


def test_a_contact_stored_while_a_recount_runs_still_counts(
    store: tuple[LockedStore, Keeper],
) -> None:
    """A contact stored after the recount copied its days, on one of those days: the views
    add it, the recount's DELETE takes it out of the rollups again, and the recount puts it
    back (it reads what was stored since its copy)."""
    from sinks import cells

    locked, keeper = store
    first, late = events()[::2], events()[1::2]  # the door knocks, then the texts: same days
    locked.insert("contact_events", CONTACT_COLUMNS, rows(first), "verify:0")
    keeper.run_pass()
    cells.rewrite(
        _StoresDuringRecount(locked, late),
        [],
        keeper.clock.zone_of,
        whole=[(ORG, c) for c in sorted(ZONES)],
    )
    recount = by(events(), ZONES.__getitem__, lambda e, day: (e["contact"]["campaign_id"], day))
    assert daily(locked) == {k: (v["attempts"], v["contacts"]) for k, v in recount.items()}
    keeper.run_pass()
    assert verify(locked, keeper.clock.zone_of).total == 0
