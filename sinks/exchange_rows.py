"""The exchange's topics -> ClickHouse rows (partner_contacts and partner_retractions,
exchange_audit, voter_pseudonyms).

Plain functions, no I/O; :meth:`ExchangeInputs.register` adds the exchange's topics to the
sink's routing table (sinks/routes.py; sinks/ddl/012_exchange.sql has the tables).

Why the sink checks the recipient: a SharedContact on one of our inbound topics that names
another partner as its recipient was not meant for us (a misrouted topic on a shared broker);
storing it would keep data no agreement gave us, so it becomes a dead letter instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.errors import InputError
from core.settings import SELF_PARTNER, ExchangeSettings
from schemas import EXCHANGE_AUDIT, RETRACTION, SHARED_CONTACT, VOTER_PSEUDONYM
from schemas.codec import AvroCodec
from sinks.routes import Routed, Routes, Where
from sinks.rows import Record, Row, level

PARTNER_CONTACT_COLUMNS = [
    "partner", "shared_event_id", "partner_id", "sharing_org", "agreement_id",
    "agreement_version", "key_id", "shared_at", "occurred_at", "occurred_precision",
    "person_pseudonym", "person_id_kind", "channel", "result",
    "responses.question_id", "responses.answer", "responses.support_level",
    "activist_codes", "canvasser_pseudonym", "geography_level",
    "state", "county", "congressional_district", "precinct",
    "age_band", "sex", "race", "race_source", "ethnicity", "ethnicity_source", "org_id",
]  # fmt: skip

EXCHANGE_AUDIT_COLUMNS = [
    "partner_id", "shared_event_id", "agreement_id", "agreement_version", "key_id",
    "event_id", "org_id", "campaign_id", "occurred_at", "shared_at",
]  # fmt: skip

VOTER_PSEUDONYM_COLUMNS = ["state", "voter_id", "key_id", "person_pseudonym"]

RETRACTION_COLUMNS = [
    "partner", "shared_event_id", "partner_id", "sharing_org", "key_id", "retracted", "reason",
    "decided_at",
]  # fmt: skip


def partner_contact_row(
    rec: Record, partner: str, recipient: str, readers: dict[str, str] | None = None
) -> Row:
    """One partner_contacts row; InputError if the record names another recipient.

    Its org_id (whose analysts may read it, as on every table with org data) is the sharing
    org for our own contacts, and for a partner's the org ``readers`` names for that partner
    ('' when none: only fieldstream's own users read it)."""
    expected = SELF_PARTNER if partner == SELF_PARTNER else recipient
    if rec["partner_id"] != expected:
        raise InputError(
            f"a record for partner {rec['partner_id']!r} arrived on {partner}'s topic, which "
            f"carries records for {expected!r}: not stored"
        )
    responses = rec.get("responses") or []
    columns = PARTNER_CONTACT_COLUMNS
    return [
        partner,
        str(rec["shared_event_id"]),
        *(rec[name] for name in columns[2:10]),  # partner_id .. occurred_precision
        *(rec.get(name) for name in columns[10:14]),  # person_pseudonym .. result
        [r["question_id"] for r in responses],
        [r.get("answer") for r in responses],
        [level(r.get("support_level")) for r in responses],
        list(rec.get("activist_codes") or []),
        rec.get("canvasser_pseudonym"),
        rec["geography_level"],
        *(rec.get(name) for name in columns[20:-1]),  # state .. ethnicity_source
        rec["sharing_org"] if partner == SELF_PARTNER else (readers or {}).get(partner, ""),
    ]


def retraction_row(rec: Record, partner: str, recipient: str) -> Row:
    """One partner_retractions row; InputError if the record names another recipient."""
    expected = SELF_PARTNER if partner == SELF_PARTNER else recipient
    if rec["partner_id"] != expected:
        raise InputError(
            f"a retraction for partner {rec['partner_id']!r} arrived on {partner}'s topic, "
            f"which carries records for {expected!r}: not stored"
        )
    return [
        partner,
        str(rec["shared_event_id"]),
        rec["partner_id"],
        rec["sharing_org"],
        rec["key_id"],
        1 if rec["retracted"] else 0,
        rec["reason"],
        rec["decided_at"],
    ]


def audit_row(rec: Record) -> Row:
    return [
        str(rec[name]) if name == "shared_event_id" else rec[name]
        for name in EXCHANGE_AUDIT_COLUMNS
    ]


def pseudonym_row(rec: Record) -> Row:
    return [rec[name] for name in VOTER_PSEUDONYM_COLUMNS]


@dataclass(frozen=True)
class ExchangeInputs:
    """Which exchange topics the sink reads, and what each becomes."""

    recipient: str  # our partner id: inbound records must be addressed to it
    inbound: dict[str, str] = field(default_factory=dict)  # topic -> partner ('self': ours)
    audit: str | None = None
    pseudonyms: str | None = None
    readers: dict[str, str] = field(default_factory=dict)  # partner -> our org reading it

    @classmethod
    def from_settings(cls, ex: ExchangeSettings) -> ExchangeInputs | None:
        """From the settings; None when the exchange is not set up (no our_partner_id)."""
        if not ex.our_partner_id:
            return None
        inbound = {ex.topic(ex.self_topic): SELF_PARTNER, **ex.inbound_topics()}
        return cls(
            ex.our_partner_id,
            inbound,
            ex.topic(ex.audit_topic),
            ex.topic(ex.pseudonyms_topic),
            ex.reader_orgs(),
        )

    def register(self, routes: Routes, codec: AvroCodec) -> None:
        """Add the exchange's topics to the sink's routing table."""

        def inbound(value: bytes | None, where: Where) -> Routed:
            name, rec = codec.decode(value or b"")
            partner = self.inbound[where[0]]
            if name == RETRACTION:
                return Routed("partner_retractions", retraction_row(rec, partner, self.recipient))
            if name != SHARED_CONTACT:
                raise InputError(f"a {name} record on an exchange topic: not stored")
            row = partner_contact_row(rec, partner, self.recipient, self.readers)
            return Routed("partner_contacts", row)

        def audit(value: bytes | None, where: Where) -> Routed:
            _, rec = codec.decode(value or b"", expect=EXCHANGE_AUDIT)
            return Routed("exchange_audit", audit_row(rec))

        def pseudonyms(value: bytes | None, where: Where) -> Routed:
            _, rec = codec.decode(value or b"", expect=VOTER_PSEUDONYM)
            return Routed("voter_pseudonyms", pseudonym_row(rec))

        tables: dict[str, Sequence[str]] = {
            "partner_contacts": PARTNER_CONTACT_COLUMNS,
            "partner_retractions": RETRACTION_COLUMNS,
        }
        for topic in self.inbound:
            routes.add(topic, inbound, tables)
        if self.audit:
            routes.add(self.audit, audit, {"exchange_audit": EXCHANGE_AUDIT_COLUMNS})
        if self.pseudonyms:
            routes.add(self.pseudonyms, pseudonyms, {"voter_pseudonyms": VOTER_PSEUDONYM_COLUMNS})
