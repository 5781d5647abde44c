"""What the write-back does with one enriched contact: nothing, post it, or record why not.

A pure function over the decoded EnrichedContact and the org's write-back settings:

- an org without write-back, or a source it does not sync: nothing (not in the ledger);
- the VAN route's request (``van_request``): posted as the tool sent it, unless the gateway
  already forwarded it (pass-through): then VAN's answer decides (``passed`` when VAN took it;
  ``rejected`` with VAN's 4xx; ``uncertain`` after a timeout; ``skipped`` when VAN was down or
  throttling and the tool was told, since the tool owns that retry);
- another synced source: mapped back through the org's VAN codes, or ``rejected`` by
  fieldstream with the reason it could not be.

Voids and corrections are never sent: VAN's API has no way to delete or change contact history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sinks.writeback.body import NotPosted, from_van_route, map_back
from sinks.writeback.config import OrgWriteback
from sinks.writeback.ledger import NewEntry


def decide(enriched: dict[str, Any], orgs: dict[str, OrgWriteback]) -> NewEntry | None:
    contact = enriched["contact"]
    org = orgs.get(contact["org_id"])
    if org is None:
        return None
    van = contact.get("van_request")
    source = contact["source_system"]
    base: dict[str, Any] = {
        "event_id": str(contact["event_id"]),
        "org_id": org.org_id,
        "source": source,
        "campaign_id": contact["campaign_id"],
        "received_at": _seconds(contact["received_at"]),
    }
    if van is not None:
        call = from_van_route(van, org.mode)
        where: dict[str, Any] = {
            "person": call.person,
            "mode": call.mode,
            "body": call.body.decode(),
        }
        status = van.get("pass_through_status")
        if status is None:
            return NewEntry(**base, **where)
        return NewEntry(**base, **where, **_passed(status, van.get("pass_through_error")))
    if source not in org.sync_sources:
        return None
    call_or_not = map_back(contact, org.codes, mode=org.mode, skip_matching=org.skip_matching)
    if isinstance(call_or_not, NotPosted):
        return NewEntry(
            **base,
            state="rejected",
            rejected_by="fieldstream",
            error_code=call_or_not.reason_code,
            error_text=call_or_not.reason,
        )
    return NewEntry(
        **base, person=call_or_not.person, mode=call_or_not.mode, body=call_or_not.body.decode()
    )


def _passed(status: int, error: str | None) -> dict[str, Any]:
    """The ledger state of a contact the gateway forwarded to VAN itself."""
    answer: dict[str, Any] = {"van_status": status or None, "error_code": error}
    if 200 <= status < 300:
        return answer | {"state": "passed"}
    if error in ("timeout", "connection_lost"):
        return answer | {"state": "uncertain"}
    if 400 <= status < 500 and status != 429:
        return answer | {"state": "rejected", "rejected_by": "van"}
    return answer | {
        "state": "skipped",
        "error_text": "VAN could not take it when the tool sent it; the tool was told and "
        "owns the retry",
    }


def _seconds(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return float(value) / 1000.0
