"""The schema registry client against the registry's documented REST API.

No registry can run here: Confluent's needs Java and Docker, Karapace is not on the package
index, and no pure-Python one was found. So these tests serve the documented requests and
answers (POST /subjects/{subject}/versions -> {"id"}, GET /schemas/ids/{id} -> {"schema"},
errors as {"error_code", "message"}) from an ``httpx.MockTransport``: a stand-in for the third-
party server, while the client, the codec and fastavro are the real ones.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from core.errors import BrokerError
from schemas.codec import CONTACT_EVENT, VOTER, AvroCodec, load_schemas
from schemas.registry import CONTENT_TYPE, RegistryClient, codec_for, registrable

pytestmark = pytest.mark.integration

URL = "http://registry.test:8081"


class FakeRegistry:
    """The documented behaviour of Confluent Schema Registry's two calls, in memory."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}  # schema text (canonicalised) -> id
        self.texts: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[httpx.Request] = []
        self.refuse: tuple[int, int, str] | None = None  # (status, error_code, message)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse is not None:
            status, code, message = self.refuse
            return httpx.Response(status, json={"error_code": code, "message": message})
        parts = request.url.path.strip("/").split("/")
        if request.method == "POST" and parts[0] == "subjects" and parts[2:] == ["versions"]:
            schema = json.loads(json.loads(request.content)["schema"])
            text = json.dumps(schema, sort_keys=True)
            schema_id = self.ids.setdefault(text, len(self.ids) + 1)
            self.texts[schema_id] = text
            self.subjects.setdefault(parts[1], []).append(schema_id)
            return httpx.Response(200, json={"id": schema_id})
        if request.method == "GET" and parts[:2] == ["schemas", "ids"]:
            text_or_none = self.texts.get(int(parts[2]))
            if text_or_none is None:
                return httpx.Response(
                    404, json={"error_code": 40403, "message": "Schema not found"}
                )
            return httpx.Response(200, json={"schema": text_or_none})
        return httpx.Response(404, json={"error_code": 404, "message": "HTTP 404 Not Found"})


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


def client(fake: FakeRegistry, url: str = URL) -> RegistryClient:
    return RegistryClient(url, transport=httpx.MockTransport(fake))


def contact() -> dict[str, Any]:
    return {
        "event_id": "6f1c1b9e-8a55-5d0b-9a7e-1b0f5c7b2a10",
        "source_system": "mytool",
        "source_event_id": "42",
        "org_id": "demo-org",
        "campaign_id": "gotv-2026",
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": dt.datetime(2026, 11, 24, 15, 4, 5, tzinfo=dt.UTC),
        "received_at": dt.datetime(2026, 11, 24, 15, 4, 6, tzinfo=dt.UTC),
        "person": {"voter_id": "ZZ000001", "state": "ZZ"},
        "result": "canvassed",
        "result_raw": "Canvassed",
        "responses": [],
    }


def test_register_posts_the_plain_schema_under_the_record_name(fake: FakeRegistry) -> None:
    schema = load_schemas()[CONTACT_EVENT]
    with client(fake) as reg:
        first = reg.id_for(CONTACT_EVENT, schema)
        assert reg.id_for(CONTACT_EVENT, schema) == first  # cached: one request
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.url.path == f"/subjects/{CONTACT_EVENT}/versions"
    assert request.headers["Content-Type"] == CONTENT_TYPE
    sent = json.loads(json.loads(request.content)["schema"])
    assert "__fastavro_parsed" not in json.dumps(sent)
    assert sent == registrable(schema)
    assert fake.subjects == {CONTACT_EVENT: [first]}


def test_codec_round_trip_through_the_registry(fake: FakeRegistry) -> None:
    writer = AvroCodec(registry=client(fake))
    assert set(fake.subjects) == set(load_schemas())  # every schema registered up front
    data = writer.encode(CONTACT_EVENT, contact())
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == fake.subjects[CONTACT_EVENT][0]

    reader_registry = client(fake)  # a fresh process: nothing cached
    reader = AvroCodec(registry=reader_registry)
    before = len(fake.requests)
    name, back = reader.decode(data)
    name2, _ = reader.decode(data)
    assert (name, name2) == (CONTACT_EVENT, CONTACT_EVENT)
    assert back["org_id"] == "demo-org" and back["person"]["voter_id"] == "ZZ000001"
    lookups = [r for r in fake.requests[before:] if r.method == "GET"]
    assert [r.url.path for r in lookups] == [f"/schemas/ids/{data[4]}"]  # then cached


def test_schema_for_returns_a_parsed_record_schema(fake: FakeRegistry) -> None:
    with client(fake) as reg:
        voter_id = reg.id_for(VOTER, load_schemas()[VOTER])
    with client(fake) as reg:
        schema = reg.schema_for(voter_id)
        assert schema["name"] == VOTER and schema["type"] == "record"
        assert reg.schema_for(voter_id) is schema


def test_unknown_id_is_a_broker_error_naming_it(fake: FakeRegistry) -> None:
    with client(fake) as reg, pytest.raises(BrokerError, match=r"schema id 999:.*40403"):
        reg.schema_for(999)


def test_incompatible_schema_says_what_to_fix(fake: FakeRegistry) -> None:
    fake.refuse = (409, 409, "Schema being registered is incompatible with an earlier schema")
    with client(fake) as reg, pytest.raises(BrokerError) as err:
        reg.id_for(CONTACT_EVENT, load_schemas()[CONTACT_EVENT])
    assert "HTTP 409" in str(err.value) and "defaults" in str(err.value)


def test_non_avro_schema_is_refused(fake: FakeRegistry) -> None:
    def protobuf(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"})

    reg = RegistryClient(URL, transport=httpx.MockTransport(protobuf))
    with pytest.raises(BrokerError, match="PROTOBUF"):
        reg.schema_for(1)


def test_credentials_go_in_basic_auth_and_never_in_errors() -> None:
    seen: list[httpx.Request] = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    reg = RegistryClient(
        "https://svc-user:s3cret-pw@registry.test/", transport=httpx.MockTransport(unreachable)
    )
    with pytest.raises(BrokerError) as err:
        reg.schema_for(1)
    assert "s3cret-pw" not in str(err.value) and "svc-user" not in str(err.value)
    assert "https://registry.test" in str(err.value) and "unreachable" in str(err.value)
    expected = base64.b64encode(b"svc-user:s3cret-pw").decode()
    assert seen[0].headers["Authorization"] == f"Basic {expected}"
    assert "s3cret-pw" not in str(seen[0].url)


def test_answer_that_is_not_json_is_a_broker_error() -> None:
    def html(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    reg = RegistryClient(URL, transport=httpx.MockTransport(html))
    with pytest.raises(BrokerError, match="HTTP 502"):
        reg.id_for(VOTER, load_schemas()[VOTER])


def test_codec_for_settings_picks_the_framing() -> None:
    data = codec_for(None).encode(CONTACT_EVENT, contact())
    assert data[:2] == b"\xc3\x01"  # embedded default: single-object encoding
