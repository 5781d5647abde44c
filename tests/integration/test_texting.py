"""Texting semantics on real chDB: "texted" counts once per person per campaign per day.

Texters send several messages to the same person in a day (initial, follow-ups); VAN counts
one "Texted" attempt per person per campaign per day, and so do the rollup and goal_progress.
Every other result still counts per event. The counts are compared with a recount in Python.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from schemas import ENRICHED_CONTACT, AvroCodec
from sinks.migrate import migrate
from sinks.rows import CONTACT_COLUMNS, contact_row
from sinks.store import LockedStore, open_store
from tests.factories.keeper import keeper_for, settle

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
DAY = dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)  # a Monday


def text(i: int, voter: str, campaign: str, days: int, result: str = "texted") -> dict[str, Any]:
    person = {"van_id": voter} if voter.startswith("van") else {"voter_id": voter, "state": "PA"}
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"texting-{i}"),
            "source_system": "hustle",
            "source_event_id": str(i),
            "org_id": "org-t",
            "campaign_id": campaign,
            "channel": "text",
            "occurred_at": DAY + dt.timedelta(days=days, minutes=i),
            "received_at": DAY,
            "person": person,
            "result": result,
            "result_raw": result,
        },
        "voter_matched": False,
        "voter": None,
        "enriched_at": DAY,
    }


EVENTS = [
    text(0, "V1", "gotv", 0),
    text(1, "V1", "gotv", 0),  # same person, campaign, day: not another attempt
    text(2, "V1", "gotv", 0),
    text(3, "V1", "gotv", 1),  # the next day: another attempt
    text(4, "V1", "persuasion", 0),  # another campaign: another attempt
    text(5, "V2", "gotv", 0),
    text(6, "van9", "gotv", 0),  # known by VAN id only
    text(7, "van9", "gotv", 0),
    text(8, "V2", "gotv", 0, "do_not_text"),  # not "texted": counted per event
    text(9, "V2", "gotv", 0, "do_not_text"),
]


def recount(events: list[dict[str, Any]], campaign: str) -> int:
    keys = set()
    for e in (x["contact"] for x in events if x["contact"]["campaign_id"] == campaign):
        if e["result"] == "texted":
            person = e["person"].get("voter_id") or e["person"].get("van_id")
            keys.add(("texted", person, e["occurred_at"].date()))
        else:
            keys.add(("event", e["event_id"]))
    return len(keys)


def test_texted_is_one_attempt_per_person_campaign_and_day(chdb_dsn: str) -> None:
    store = LockedStore(open_store(chdb_dsn))
    try:
        migrate(store.client)
        rows = [contact_row(CODEC.decode(CODEC.encode(ENRICHED_CONTACT, e))[1]) for e in EVENTS]
        store.insert("contact_events", CONTACT_COLUMNS, rows, "texting:0:0-9")
        store.insert("contact_events", CONTACT_COLUMNS, rows[:4], "texting:0:0-3")  # redelivery
        by_campaign = dict(
            store.query(
                "SELECT toString(campaign_id), sum(attempts) FROM contact_progress_daily "
                "GROUP BY campaign_id"
            )[2]
        )
        assert by_campaign == {"gotv": recount(EVENTS, "gotv"), "persuasion": 1}
        assert by_campaign["gotv"] == 6  # V1 twice (two days), V2, van9, two do_not_text
        store.insert(
            "goals",
            ["org_id", "campaign_id", "week_start", "metric", "target", "loaded_at"],
            [["org-t", "gotv", DAY.date(), "attempts", 10, DAY]],
        )
        settle(keeper_for(store))
        assert store.query("SELECT actual FROM goal_progress")[2] == [[6]]
    finally:
        store.close()
