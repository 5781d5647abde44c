"""The blind data exchange's core: sharing agreements, keyed pseudonyms, the shared record.

Pure functions and config models, no I/O beyond reading the two config files; the exchange
agent, partner topics, coalition views and audit export build on these. See docs/exchange.md.
"""

from schemas import SHARED_CONTACT
from streams.exchange.agreements import (
    Agreement,
    Agreements,
    FieldRules,
    GeoLevel,
    Precision,
    diff_agreements,
    load_agreements,
    parse_agreements,
)
from streams.exchange.pseudonym import (
    KeyRing,
    PersonIdKind,
    PseudonymKey,
    canvasser_pseudonym,
    load_keys,
    new_secret,
    parse_keys,
    person_pseudonym,
    shared_event_id,
    van_pseudonym,
    voter_pseudonym,
)
from streams.exchange.share import STRUCTURAL, covers, share, truncate

__all__ = [
    "SHARED_CONTACT",
    "STRUCTURAL",
    "Agreement",
    "Agreements",
    "FieldRules",
    "GeoLevel",
    "KeyRing",
    "PersonIdKind",
    "Precision",
    "PseudonymKey",
    "canvasser_pseudonym",
    "covers",
    "diff_agreements",
    "load_agreements",
    "load_keys",
    "new_secret",
    "parse_agreements",
    "parse_keys",
    "person_pseudonym",
    "share",
    "shared_event_id",
    "truncate",
    "van_pseudonym",
    "voter_pseudonym",
]
