"""Encode and decode records in both Avro framings the design uses.

* Avro single-object encoding (the Avro spec): ``C3 01`` + the schema's 8-byte CRC-64-AVRO
  fingerprint (little-endian) + the binary record. Used on the embedded default; schemas
  are resolved from ``schemas/avro``.
* Confluent wire format: ``00`` + a 4-byte big-endian schema id + the binary record. Used
  with a schema registry in production.

The decoder tells the two apart by the first byte. Writing always uses the framing the codec
was built with; readers accept both.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

from core.errors import SchemaError

AVRO_DIR = Path(__file__).with_name("avro")
NAMESPACE = "org.fieldstream.v1"
CONTACT_EVENT = f"{NAMESPACE}.ContactEvent"
VOTER = f"{NAMESPACE}.Voter"
ENRICHED_CONTACT = f"{NAMESPACE}.EnrichedContact"
DEAD_LETTER = f"{NAMESPACE}.DeadLetter"
SHARED_CONTACT = f"{NAMESPACE}.SharedContact"  # what partners receive (streams/exchange)
EXCHANGE_AUDIT = f"{NAMESPACE}.ExchangeAudit"  # private
VOTER_PSEUDONYM = f"{NAMESPACE}.VoterPseudonym"  # private
CORRECTION = f"{NAMESPACE}.Correction"  # voids and their undoing (contacts.corrections)
SUPPRESSION = f"{NAMESPACE}.Suppression"  # the keeper's decisions (contacts.suppressions)
RETRACTION = f"{NAMESPACE}.Retraction"  # what partners receive when a contact is taken back
WRITEBACK_STATUS = f"{NAMESPACE}.WritebackStatus"  # the write-back to VAN, per contact
QUALITY_FLAG = f"{NAMESPACE}.QualityFlag"  # quality.flags (streams/quality)

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0
_CONFLUENT_HEADER = struct.Struct(">bI")

Record = dict[str, Any]


class SchemaRegistryLookup(Protocol):
    """What the codec needs of a schema registry (Confluent wire format)."""

    def id_for(self, full_name: str, schema: dict[str, Any]) -> int: ...

    def schema_for(self, schema_id: int) -> dict[str, Any]: ...


@lru_cache(maxsize=1)
def load_schemas(directory: str = str(AVRO_DIR)) -> dict[str, dict[str, Any]]:
    """Parse every ``<full name>.avsc`` in ``directory``; keys are full names."""
    parsed: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(directory).glob("*.avsc")):
        full_name = path.name.removesuffix(".avsc")
        try:
            schema = load_schema(str(path))  # resolves named refs from siblings
        except Exception as exc:  # fastavro raises several kinds
            raise SchemaError(f"schema file {path.name} does not parse: {exc}") from exc
        if not isinstance(schema, dict):
            raise SchemaError(f"schema file {path.name} must hold one named record")
        parsed[full_name] = schema
    if not parsed:
        raise SchemaError(f"no .avsc files in {directory}")
    return parsed


def enum_symbols(full_name: str) -> dict[str, tuple[str, ...]]:
    """The enum fields of schema ``full_name`` and their symbols, both in schema order."""
    found: dict[str, tuple[str, ...]] = {}
    for f in load_schemas()[full_name]["fields"]:
        kind = f["type"]
        if isinstance(kind, dict) and kind.get("type") == "enum":
            found[f["name"]] = tuple(kind["symbols"])
    return found


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of the schema's parsing canonical form."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class AvroCodec:
    """Encodes records of the project's schemas; decodes either framing.

    ``registry`` switches writing to the Confluent wire format; without it the codec writes
    single-object encoding. Decoding Confluent-framed bytes needs a registry.
    """

    def __init__(
        self,
        schemas: dict[str, dict[str, Any]] | None = None,
        registry: SchemaRegistryLookup | None = None,
    ) -> None:
        self._schemas = schemas if schemas is not None else load_schemas()
        self._registry = registry
        self._by_fingerprint = {
            schema_fingerprint(s): (name, s) for name, s in self._schemas.items()
        }
        self._headers: dict[str, bytes] = {}
        for name, schema in self._schemas.items():
            if registry is None:
                header = SINGLE_OBJECT_MAGIC + schema_fingerprint(schema)
            else:
                header = _CONFLUENT_HEADER.pack(CONFLUENT_MAGIC, registry.id_for(name, schema))
            self._headers[name] = header
        self._by_id: dict[int, tuple[str, dict[str, Any]]] = {}

    def schema(self, full_name: str) -> dict[str, Any]:
        try:
            return self._schemas[full_name]
        except KeyError:
            raise SchemaError(f"unknown schema {full_name!r}") from None

    def encode(self, full_name: str, record: Record) -> bytes:
        """Frame and encode ``record`` with the named schema."""
        schema = self.schema(full_name)
        buf = io.BytesIO()
        buf.write(self._headers[full_name])
        try:
            schemaless_writer(buf, schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SchemaError(f"record does not fit {full_name}: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes, expect: str | None = None) -> tuple[str, Record]:
        """Decode either framing; returns ``(full schema name, record)``.

        ``expect`` names the schema the caller wants; another one is an error, since the
        project's topics each carry one record type.
        """
        name, schema, offset = self._resolve(data)
        if expect is not None and name != expect:
            raise SchemaError(f"expected a {expect} record, got {name}")
        body = io.BytesIO(data[offset:])
        try:
            record = schemaless_reader(body, schema, schema)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, StopIteration) as exc:
            raise SchemaError(f"corrupt {name} record: {exc}") from exc
        if body.tell() != len(data) - offset:
            raise SchemaError(
                f"corrupt {name} record: {len(data) - offset - body.tell()} bytes "
                "after the record's end"
            )
        if not isinstance(record, dict):
            raise SchemaError(f"{name} did not decode to a record")
        return name, record

    def _resolve(self, data: bytes) -> tuple[str, dict[str, Any], int]:
        if data[:2] == SINGLE_OBJECT_MAGIC:
            found = self._by_fingerprint.get(bytes(data[2:10]))
            if found is None:
                raise SchemaError(
                    f"unknown schema fingerprint {bytes(data[2:10]).hex()}: "
                    "the writer used a schema this reader does not have"
                )
            return found[0], found[1], 10
        if data[:1] == b"\x00" and len(data) >= 5:
            if self._registry is None:
                raise SchemaError("Confluent-framed record but no schema registry is configured")
            _, schema_id = _CONFLUENT_HEADER.unpack_from(data)
            found = self._by_id.get(schema_id)
            if found is None:
                schema = self._registry.schema_for(schema_id)
                found = (_full_name(schema), schema)
                self._by_id[schema_id] = found
            return found[0], found[1], 5
        head = bytes(data[:2]).hex() or "empty"
        raise SchemaError(f"not an Avro-framed record (first bytes {head})")


def _full_name(schema: dict[str, Any]) -> str:
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def decoder_for(codec: AvroCodec, full_name: str) -> Callable[[bytes], Record]:
    """A one-argument decoder for a topic that carries ``full_name`` records."""

    def decode(data: bytes) -> Record:
        return codec.decode(data, expect=full_name)[1]

    return decode
