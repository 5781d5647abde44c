"""Bad input at every gateway route, on the real app and a real Tansu broker: a corpus of what
senders get wrong and attackers try, then hypothesis-mutated tool payloads. No answer is a 5xx;
every answer is one the routes declare; and the classes that once gave a 500 or were stored
(times off the calendar, Unicode digits in ids, ids and texts of any length) are a 4xx that
names the field."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import SourceConfig
from core.kafka import ensure_topics, producer_config
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.app import create_app

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
DECLARED = {200, 202, 204, 400, 401, 403, 404, 408, 409, 413, 415, 422, 429}
SOURCES = {
    s["id"]: SourceConfig.model_validate(s)
    for s in [
        {"id": "tool", "org_id": "org-a", "secrets": ["s1"]},
        {"id": "spoke", "org_id": "org-a", "secrets": ["s1"], "tool": "spoke",
         "campaign_id": "gotv"},
        {"id": "callhub", "org_id": "org-a", "secrets": ["s1"], "tool": "callhub",
         "campaign_id": "gotv", "options": {"person_fields": {"van_id": "contact"}}},
        {"id": "hustle", "org_id": "org-a", "secrets": ["s1"], "tool": "hustle",
         "campaign_id": "gotv"},
        {"id": "van", "org_id": "org-a", "secrets": ["s1"], "tool": "van", "campaign_id": "gotv",
         "codes_file": str(DATA / "van" / "codes_committee.yaml")},
        {"id": "osdi", "org_id": "org-a", "secrets": ["s1"], "tool": "osdi",
         "campaign_id": "gotv"},
    ]
}  # fmt: skip
EVENT: dict[str, Any] = {
    "source_system": "tool",
    "source_event_id": "bad-input-1",
    "org_id": "org-a",
    "campaign_id": "gotv",
    "channel": "phone",
    "occurred_at": "2026-11-24T15:04:05+00:00",
    "person": {"voter_id": "V1", "state": "PA"},
    "result": "busy",
    "result_raw": "18",
}
CANONICAL = {"x-fieldstream-source": "tool", "authorization": "Bearer s1"}
VAN_AUTH = {"authorization": "Basic " + base64.b64encode(b"van:s1").decode()}
VAN_BODY = json.loads((DATA / "van" / "spoke_classic_result.json").read_text())


@dataclass
class Gateway:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient

    def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {"content-type": "application/json", **(headers or {})}
        return self.loop.run_until_complete(self.client.post(url, content=body, headers=headers))


@pytest.fixture(scope="module")
def gateway(tansu: str) -> Iterator[Gateway]:
    kafka = KafkaSettings(bootstrap_servers=tansu)
    kafka.topics.raw, kafka.topics.dlq = "raw.bad-input", "dlq.bad-input"
    ensure_topics(kafka)
    loop = asyncio.new_event_loop()

    async def setup() -> tuple[httpx.AsyncClient, AsyncSender]:
        producer = AsyncSender(producer_config(kafka))
        app = create_app(sources=SOURCES, kafka=kafka, gateway=GatewaySettings(),
                         producer=producer)  # fmt: skip
        transport = httpx.ASGITransport(app=app)
        return httpx.AsyncClient(transport=transport, base_url="http://gw"), producer

    client, producer = loop.run_until_complete(setup())
    try:
        yield Gateway(loop, client)
    finally:
        loop.run_until_complete(client.aclose())
        producer.close()
        loop.close()


def dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()  # the stdlib writes any integer, as a sender may


def event(**changes: Any) -> bytes:
    return dumps({**EVENT, **changes})


def van(body: dict[str, Any], person: str = "1000001") -> tuple[str, bytes, dict[str, str]]:
    return f"/v4/people/{person}/canvassResponses", dumps(body), VAN_AUTH


def with_context(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VAN_BODY)
    body["canvassContext"].update(changes)
    return body


# (url, body, headers, the field a 4xx must name, or None: any declared 4xx)
NAMED = [
    ("/v1/events", event(occurred_at=2**64 - 1), CANONICAL, "occurred_at"),
    ("/v1/events", event(occurred_at=2**63 - 1), CANONICAL, "occurred_at"),
    ("/v1/events", event(occurred_at=-(2**63)), CANONICAL, "occurred_at"),
    *[
        ("/v1/events", event(occurred_at=f"{y}-06-01T00:00:00Z"), CANONICAL, "occurred_at")
        for y in ("0001", "1000", "1850", "1999", "9999")
    ],
    ("/v1/events", event(occurred_at="0001-01-01T00:00:00+05:00"), CANONICAL, "occurred_at"),
    ("/v1/events", event(source_event_id="x" * 500_000), CANONICAL, "source_event_id"),
    ("/v1/events", event(result_raw="r" * 900_000), CANONICAL, "result_raw"),
    ("/v1/events", event(person={"van_id": "9" * 10_000}), CANONICAL, "person.van_id"),
    (
        "/v1/events",
        event(responses=[{"question_id": "q", "answer": "a", "support_level": 2**40}]),
        CANONICAL,
        "responses[0].support_level",
    ),
    ("/v1/events", event(activist_codes=["a"] * 5_000), CANONICAL, "activist_codes"),
    (*van(with_context(dateCanvassed=1e20)), "dateCanvassed"),
    (*van(with_context(dateCanvassed=2**64)), "dateCanvassed"),
    (*van(with_context(dateCanvassed="0001-01-01T00:00:00+05:00")), "dateCanvassed"),
    (*van(VAN_BODY, person="²"), "vanId"),
    (*van(VAN_BODY, person="١٢٣"), "vanId"),
    (*van(VAN_BODY, person="9" * 10_000), "van_id"),
    (*van({**VAN_BODY, "resultCodeId": "²"}), "resultCodeId"),
    (*van({**VAN_BODY, "resultCodeId": "9" * 5000}), "resultCodeId"),
]


@pytest.mark.parametrize(
    "url,body,headers,field", NAMED, ids=[f"{n}-{r[3]}" for n, r in enumerate(NAMED)]
)
def test_each_class_is_a_4xx_naming_the_field(
    gateway: Gateway, url: str, body: bytes, headers: dict[str, str], field: str
) -> None:
    resp = gateway.post(url, body, headers)
    assert 400 <= resp.status_code < 500, resp.text[:300]
    answer = resp.json()
    named = [p.get("field") for p in answer.get("problems", [])]
    named += [p for e in answer.get("errors", []) for p in e.get("properties", [])]  # VAN's
    assert any((n or "").endswith(field) for n in named), (field, answer)


CORPUS = [
    b"", b"null", b"[]", b"{}", b"0", b'"x"', b"\xff\xfe\x00", b"{" * 5_000 + b"}" * 5_000,
    b"[" * 100_000, b'{"events": 5}', b'{"events": []}', b"[" + b"{}," * 2_000 + b"{}]",
    b"x" * 2_000_000, orjson.dumps({"hook": {"event": ["cc.notes"]}, "data": []}),
    orjson.dumps({"type": "messageStatus-v1", "message": None}), b'{"a": 1e400}', b"NaN",
]  # fmt: skip
ROUTES = [
    ("/v1/events", CANONICAL),
    ("/v1/hooks/tool", {}),
    ("/v1/hooks/spoke?token=s1", {}),
    ("/v1/hooks/callhub?token=s1", {}),
    ("/v1/hooks/hustle?token=s1", {}),
    ("/v1/hooks/nobody", {}),
    ("/v4/people/1000001/canvassResponses", VAN_AUTH),
    ("/v4/people/stateFileId:²/canvassResponses", VAN_AUTH),
    ("/osdi/osdi/people/123/record_canvass_helper", {"osdi-api-token": "s1"}),
    ("/osdi/osdi/people/²/canvasses", {"osdi-api-token": "s1"}),
    ("/osdi/osdi/canvassing_efforts/9/canvasses", {"osdi-api-token": "s1"}),
    ("/osdi/nobody/people/1/canvasses", {"osdi-api-token": "s1"}),
]


def test_a_corpus_at_every_route_gets_no_5xx(gateway: Gateway) -> None:
    answers: dict[int, int] = {}
    for url, headers in ROUTES:
        for body in CORPUS:
            for ctype in ("application/json", "text/plain"):
                status = gateway.post(url, body, {**headers, "content-type": ctype}).status_code
                answers[status] = answers.get(status, 0) + 1
    assert set(answers) <= DECLARED, answers
    assert sum(answers.values()) == len(ROUTES) * len(CORPUS) * 2


def fixtures(tool: str) -> list[Any]:
    return [json.loads(p.read_text()) for p in sorted((DATA / tool).glob("*.json"))]


TOOL_ROUTES = {
    "/v1/events": ([EVENT], CANONICAL),
    "/v1/hooks/spoke?token=s1": (fixtures("spoke"), {}),
    "/v1/hooks/callhub?token=s1": (fixtures("callhub"), {}),
    "/v1/hooks/hustle?token=s1": (fixtures("hustle"), {}),
    "/v4/people/1000001/canvassResponses": (fixtures("van"), VAN_AUTH),
    "/osdi/osdi/people/123/record_canvass_helper": (
        fixtures("osdi"),
        {"osdi-api-token": "s1"},
    ),
    "/osdi/osdi/people/123/canvasses": (fixtures("osdi"), {"osdi-api-token": "s1"}),
}
NASTY = st.one_of(
    st.sampled_from([2**64, -(2**63) - 1, 10**20, 1e20, 1e308, -1, True, None, "", "²", "١٢٣",
                     "9" * 10_000, "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z", [], {}]),
    st.integers(), st.text(max_size=30),
)  # fmt: skip


def _paths(obj: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    items = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    )
    for k, v in items:
        out += _paths(v, (*here, k))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_tool_payloads_get_only_declared_answers(
    gateway: Gateway, data: st.DataObject
) -> None:
    url = data.draw(st.sampled_from(sorted(TOOL_ROUTES)))
    originals, headers = TOOL_ROUTES[url]
    payload = copy.deepcopy(data.draw(st.sampled_from(originals)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(payload)))
        if not path:
            continue
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = copy.deepcopy(data.draw(NASTY))
    resp = gateway.post(url, dumps(payload), headers)
    assert resp.status_code in DECLARED, (url, resp.status_code, resp.text[:300])
