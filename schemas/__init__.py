"""The data standard: Avro schemas (avro/*.avsc, the source of truth) and the codec."""

from schemas.codec import (
    CONTACT_EVENT,
    CORRECTION,
    DEAD_LETTER,
    ENRICHED_CONTACT,
    EXCHANGE_AUDIT,
    QUALITY_FLAG,
    RETRACTION,
    SHARED_CONTACT,
    SUPPRESSION,
    VOTER,
    VOTER_PSEUDONYM,
    WRITEBACK_STATUS,
    AvroCodec,
    SchemaRegistryLookup,
    load_schemas,
)

__all__ = [
    "CONTACT_EVENT",
    "CORRECTION",
    "DEAD_LETTER",
    "ENRICHED_CONTACT",
    "EXCHANGE_AUDIT",
    "QUALITY_FLAG",
    "RETRACTION",
    "SHARED_CONTACT",
    "SUPPRESSION",
    "VOTER",
    "VOTER_PSEUDONYM",
    "WRITEBACK_STATUS",
    "AvroCodec",
    "SchemaRegistryLookup",
    "load_schemas",
]
