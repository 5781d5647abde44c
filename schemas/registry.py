"""A schema registry client for the Confluent wire format (production).

Implements the codec's :class:`~schemas.codec.SchemaRegistryLookup` over the registry's
documented REST API (Confluent Schema Registry; Karapace and Redpanda speak the same):

* ``POST /subjects/{subject}/versions`` registers a schema, or returns the id it already has;
* ``GET /schemas/ids/{id}`` returns the schema a record was written with.

Why not confluent-kafka's own ``SchemaRegistryClient``: in the confluent-kafka version the
project pins it needs the ``schemaregistry`` extra (authlib, cachetools, httpx2), which the
project does not install; this client needs only httpx, already a dependency, and the two
calls the codec makes.

Subjects follow Confluent's RecordNameStrategy (the record's full name, e.g.
``org.fieldstream.v1.ContactEvent``): the codec registers per record type, not per topic, and
readers only ever look schemas up by id. Both lookups are cached for the life of the client:
ids never change their schema, and a schema keeps its id within a subject.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from fastavro import parse_schema

from core.errors import BrokerError
from schemas.codec import AvroCodec

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def registrable(schema: Any) -> Any:
    """The schema as plain Avro JSON: fastavro's private keys (``__fastavro_parsed``,
    ``__named_schemas``) dropped, so the registry stores what the .avsc files say."""
    if isinstance(schema, dict):
        return {k: registrable(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [registrable(item) for item in schema]
    return schema


class RegistryClient:
    """Registers and looks up Avro schemas; every failure is a :class:`BrokerError`.

    ``url`` may carry ``user:password@`` (HTTP basic auth, as hosted registries use); error
    messages never repeat it. ``transport`` is for tests (an ``httpx.MockTransport``).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parsed = httpx.URL(url)
        auth = None
        if parsed.username or parsed.password:
            auth = httpx.BasicAuth(parsed.username, parsed.password)
            parsed = parsed.copy_with(username=None, password=None)
        self.url = str(parsed).rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,
            timeout=timeout_s,
            transport=transport,
            headers={"Accept": CONTENT_TYPE},
        )
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    def id_for(self, full_name: str, schema: dict[str, Any]) -> int:
        """The registry's id for ``schema`` under the subject ``full_name`` (registered on
        first use; the registry answers with the existing id when it already has it)."""
        text = json.dumps(registrable(schema), sort_keys=True, separators=(",", ":"))
        key = (full_name, text)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        body = self._call(
            "POST",
            f"/subjects/{quote(full_name, safe='')}/versions",
            what=f"register {full_name}",
            json={"schema": text},
        )
        schema_id = body.get("id")
        if not isinstance(schema_id, int):
            raise BrokerError(f"schema registry at {self.url} answered without an id: {body}")
        self._ids[key] = schema_id
        return schema_id

    def schema_for(self, schema_id: int) -> dict[str, Any]:
        """The (parsed) Avro schema registered under ``schema_id``."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        body = self._call("GET", f"/schemas/ids/{schema_id}", what=f"look up schema id {schema_id}")
        kind = body.get("schemaType", "AVRO")
        if kind != "AVRO":
            raise BrokerError(f"schema id {schema_id} is a {kind} schema; fieldstream reads Avro")
        try:
            schema = parse_schema(json.loads(body["schema"]))
        except (KeyError, TypeError, ValueError) as exc:  # fastavro raises several kinds
            raise BrokerError(
                f"schema id {schema_id} from {self.url} does not parse: {exc}"
            ) from exc
        if not isinstance(schema, dict) or schema.get("type") != "record":
            raise BrokerError(f"schema id {schema_id} is not a record schema")
        self._schemas[schema_id] = schema
        return schema

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """One request; the JSON object answered, or BrokerError saying what failed."""
        headers = {"Content-Type": CONTENT_TYPE} if "json" in kwargs else None
        if "json" in kwargs:
            kwargs["content"] = json.dumps(kwargs.pop("json"))
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise BrokerError(
                f"cannot {what}: schema registry at {self.url} unreachable "
                f"({type(exc).__name__}); check kafka.schema_registry_url"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        detail = body if isinstance(body, dict) else {}
        code = detail.get("error_code", response.status_code)
        message = detail.get("message") or response.reason_phrase
        hint = {
            401: "check the credentials in kafka.schema_registry_url",
            403: "the registry user may not do this",
            409: "the schema is incompatible with the subject's compatibility level: "
            "make the change compatible (add fields with defaults) or use a new record name",
            422: "the registry refused the schema as invalid",
        }.get(response.status_code, "")
        raise BrokerError(
            f"cannot {what}: schema registry at {self.url} answered HTTP "
            f"{response.status_code} (error {code}: {message})" + (f"; {hint}" if hint else "")
        )


def codec_for(schema_registry_url: str | None) -> AvroCodec:
    """The codec an entry point builds from ``kafka.schema_registry_url``: Confluent framing
    through the registry when it is set (production), single-object encoding when not
    (the embedded default). Registers the project's schemas on the way."""
    if not schema_registry_url:
        return AvroCodec()
    return AvroCodec(registry=RegistryClient(schema_registry_url))
