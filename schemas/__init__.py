"""The data standard: Avro schemas (avro/*.avsc, the source of truth) and the codec."""

from schemas.codec import (
    CONTACT_EVENT,
    DEAD_LETTER,
    ENRICHED_CONTACT,
    EXCHANGE_AUDIT,
    QUALITY_FLAG,
    SHARED_CONTACT,
    VOTER,
    VOTER_PSEUDONYM,
    WRITEBACK_STATUS,
    AvroCodec,
    SchemaRegistryLookup,
    load_schemas,
)

__all__ = [
    "CONTACT_EVENT",
    "DEAD_LETTER",
    "ENRICHED_CONTACT",
    "EXCHANGE_AUDIT",
    "QUALITY_FLAG",
    "SHARED_CONTACT",
    "VOTER",
    "VOTER_PSEUDONYM",
    "WRITEBACK_STATUS",
    "AvroCodec",
    "SchemaRegistryLookup",
    "load_schemas",
]
