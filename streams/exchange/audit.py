"""What the exchange keeps for itself: the audit trail, our voters' pseudonyms, and the audit
export.

Why a private ``exchange.audit`` topic written by the agent (and stored by the sink as
exchange_audit), not rows the sink derives from the partner topics: the audit must name OUR
event id and campaign beside the shared event id, and neither may ever be in a partner's
topic. Only the agent knows both, at the moment it shares. It produces the audit record in the
same batch as the shared record and commits its input only after both are acked, so every
shared record has its audit row (at least once); exchange_audit is a ReplacingMergeTree keyed
by partner, shared event id and agreement version, so redelivery leaves exactly one row per
record version a partner received.

Why our universe voters' pseudonyms go through a topic too: only the exchange holds the keys,
and the sink (which owns ClickHouse) must not; ``fieldstream exchange pseudonymise`` computes
them and the sink stores them as voter_pseudonyms, so coalition coverage is a view.

Both records are in schemas/avro (ExchangeAudit, VoterPseudonym), private to our own broker and
ClickHouse: partners never see them. Reading them back out of ClickHouse (the audit export,
publishing pseudonyms, coalition aggregates) is the roof's work: fieldstream/exchange_audit.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import InputError
from streams.exchange.pseudonym import KeyRing, voter_pseudonym
from streams.exchange.share import as_utc

Record = dict[str, Any]


def audit_record(shared: Mapping[str, Any], enriched: Mapping[str, Any], at: dt.datetime) -> Record:
    """The audit record of one SharedContact made from ``enriched`` at ``at``."""
    contact = enriched["contact"]
    return {
        "shared_event_id": shared["shared_event_id"],
        "partner_id": shared["partner_id"],
        "agreement_id": shared["agreement_id"],
        "agreement_version": shared["agreement_version"],
        "key_id": shared["key_id"],
        "event_id": str(contact["event_id"]),
        "org_id": contact["org_id"],
        "campaign_id": contact["campaign_id"],
        "occurred_at": as_utc(contact["occurred_at"]),
        "shared_at": at,
    }


def pseudonym_records(voters: Iterable[tuple[str, str]], keys: KeyRing) -> Iterable[Record]:
    """Each (state, voter_id) under every key of the ring (pseudonyms differ per key period,
    and partners' contacts of every period should line up). Unusable ids are skipped."""
    for state, voter_id in voters:
        for key in keys.keys:
            try:
                pseudonym = voter_pseudonym(key, state, voter_id)
            except InputError:
                continue
            yield {
                "state": state,
                "voter_id": voter_id,
                "key_id": key.id,
                "person_pseudonym": pseudonym,
            }
