"""The match_rate view on real chDB equals a recount in Python, redeliveries included.

Events from three tools, two campaigns and two days, some matched to a voter and some not;
one batch is inserted again under another token (a redelivery the sink's dedup window does not
catch), which FINAL and distinct event ids must absorb.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

import pytest

from fieldstream import queries
from schemas import ENRICHED_CONTACT, AvroCodec
from sinks.migrate import migrate
from sinks.rows import CONTACT_COLUMNS, contact_row
from sinks.store import LockedStore, open_store
from tests.factories.keeper import keeper_for, settle

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
DAY = dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)
TOOLS = ("van", "hustle", "callhub")


def event(i: int) -> dict[str, Any]:
    """Event i: tool, campaign and day vary with i; every third van event has no match."""
    tool = TOOLS[i % 3]
    matched = {"van": i % 9 != 0, "hustle": i % 2 == 0, "callhub": False}[tool]
    voter_id = f"V{i}"
    return {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"match-rate-{i}"),
            "source_system": tool,
            "source_event_id": str(i),
            "org_id": "org-m",
            "campaign_id": "gotv" if i % 4 else "persuasion",
            "channel": "phone",
            "occurred_at": DAY + dt.timedelta(days=i % 2, minutes=i),
            "received_at": DAY,
            "person": {"voter_id": voter_id, "state": "PA"},
            "result": "canvassed",
            "result_raw": "canvassed",
        },
        "voter_matched": matched,
        "voter": {"voter_id": voter_id, "state": "PA", "updated_at": DAY} if matched else None,
        "enriched_at": DAY,
    }


EVENTS = [event(i) for i in range(60)]


def recount(events: list[dict[str, Any]]) -> dict[tuple[str, str, str, dt.date], list[Any]]:
    ids: dict[tuple[str, str, str, dt.date], dict[str, bool]] = defaultdict(dict)
    for e in events:
        c = e["contact"]
        key = (c["org_id"], c["campaign_id"], c["source_system"], c["occurred_at"].date())
        ids[key][str(c["event_id"])] = e["voter_matched"]
    out = {}
    for key, seen in ids.items():
        matched = sum(seen.values())
        out[key] = [len(seen), matched, len(seen) - matched, matched / len(seen)]
    return out


def test_match_rate_equals_a_recount(chdb_dsn: str) -> None:
    store = LockedStore(open_store(chdb_dsn))
    try:
        migrate(store.client)
        rows = [contact_row(CODEC.decode(CODEC.encode(ENRICHED_CONTACT, e))[1]) for e in EVENTS]
        store.insert("contact_events", CONTACT_COLUMNS, rows, "match-rate:0:0-59")
        store.insert("contact_events", CONTACT_COLUMNS, rows[:25], "match-rate:1:0-24")
        settle(keeper_for(store))
        got = {
            (o, c, s, d): [e, m, u, pytest.approx(r)]
            for o, c, s, d, e, m, u, r in store.query(
                "SELECT org_id, campaign_id, source_system, day, events, matched, unmatched, "
                "match_rate FROM match_rate WHERE org_id = 'org-m'"
            )[2]
        }
        want = recount(EVENTS)
        assert got == want
        # the fixture is not degenerate: every tool has rows, rates differ, some are partial
        rates = {k[2]: v[3] for k, v in want.items()}
        assert set(rates) == set(TOOLS) and rates["callhub"] == 0.0
        assert any(0 < v[3] < 1 for v in want.values())
        assert sum(v[0] for v in want.values()) == len(EVENTS)
        # the board's line for the first day: per tool, summed over campaigns, worst first
        campaigns = {(k[0], k[1]) for k in want}
        board = store.query(queries.match_rate(dict.fromkeys(campaigns, DAY.date())))[2]
        per_tool: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (_, _, tool, day), (events, matched, _, _) in want.items():
            if day == DAY.date():
                per_tool[tool][0] += events
                per_tool[tool][1] += matched
        assert sorted(map(tuple, board)) == sorted((t, e, m) for t, (e, m) in per_tool.items())
        unmatched = [e - m for _, e, m in board]
        assert unmatched == sorted(unmatched, reverse=True)
    finally:
        store.close()
