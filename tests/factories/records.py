"""Records as the codec takes them: contact events and voters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.ids import event_id_for

RACES = ["white", "black", "latino", "asian"]
SEXES = ["female", "male"]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def voter(i: int) -> dict[str, Any]:
    return {
        "voter_id": f"V{i}",
        "state": "ZZ",
        "precinct": f"P{i % 3}",
        "age": 20 + i,
        "sex": SEXES[i % 2],
        "race": RACES[i % 4],
        "race_source": "self_reported",
        "updated_at": 0,
    }


def event(n: int, voter_id: str = "V0", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": event_id_for("org-a", "test", str(n)),
        "source_system": "test",
        "source_event_id": str(n),
        "org_id": "org-a",
        "campaign_id": "gotv",
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": NOW - dt.timedelta(minutes=n % 50),
        "received_at": NOW,
        "person": {"voter_id": voter_id, "state": "ZZ"},
        "result": "canvassed",
        "result_raw": "canvassed",
        "responses": [{"question_id": "support", "answer": "x", "support_level": 1 + n % 5}],
    }
    record.update(changes)
    return record
