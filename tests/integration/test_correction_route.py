"""``POST /v1/corrections`` on real Tansu: a tool's void reaches contacts.corrections as a
Correction; no credential is a 401, a selector that could touch too much a 422 naming why.
Mounted here on a Starlette app of its own (the gateway's create_app mounts the same route)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette

from core.config import SourceConfig
from core.kafka import ensure_topics, producer_config
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.corrections import route
from schemas import CORRECTION, AvroCodec
from schemas.ids import event_id_for
from tests.factories.stream import read_all

pytestmark = pytest.mark.integration

SECRET = "a-secret-of-the-canvass-app"
SOURCES = {
    "canvass-app": SourceConfig.model_validate(
        {"id": "canvass-app", "org_id": "org-a", "secrets": [SECRET], "tool": "hustle"}
    )
}
HEADERS = {"X-Fieldstream-Source": "canvass-app", "Authorization": f"Bearer {SECRET}"}


Test = Callable[[httpx.AsyncClient], Awaitable[None]]


def run(kafka: KafkaSettings, test: Test) -> None:
    """``test`` with a client of the route, on the gateway's own producer (httpx's ASGI
    transport, as the gateway tests use)."""

    async def main() -> None:
        sender = AsyncSender(producer_config(kafka))
        app = Starlette(
            routes=[route(SOURCES, kafka, GatewaySettings(), lambda: sender, AvroCodec())]
        )
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                await test(client)
        finally:
            sender.close()

    ensure_topics(kafka)
    asyncio.run(main())


def test_a_tool_voids_its_own_contacts(kafka_settings: KafkaSettings) -> None:
    run(kafka_settings, lambda client: voids(client, kafka_settings))


async def voids(client: httpx.AsyncClient, kafka_settings: KafkaSettings) -> None:
    body = {"action": "void", "reason": "walk list flagged", "source_event_ids": ["a1", "a2"]}
    r = await client.post("/v1/corrections", json=body, headers=HEADERS)
    assert r.status_code == 202, r.text
    cid = r.json()["correction_id"]
    [(key, value)] = read_all(kafka_settings.bootstrap_servers, kafka_settings.topics.corrections)
    _, record = AvroCodec().decode(value, expect=CORRECTION)
    assert key == b"org-a" and record["correction_id"] == cid
    assert record["event_ids"] == [event_id_for("org-a", "hustle", i) for i in ("a1", "a2")]
    assert (record["source_system"], record["requested_by"]) == ("hustle", "canvass-app")

    assert (await client.post("/v1/corrections", json=body)).status_code == 401
    wrong = {**HEADERS, "Authorization": "Bearer nope"}
    assert (await client.post("/v1/corrections", json=body, headers=wrong)).status_code == 401
    everything = await client.post(
        "/v1/corrections", json={"action": "void", "reason": "oops"}, headers=HEADERS
    )
    assert everything.status_code == 422 and "exactly one of" in everything.text
    bad = await client.post("/v1/corrections", content=b"{", headers=HEADERS)
    assert bad.status_code == 400
    # nothing more reached Kafka
    assert len(read_all(kafka_settings.bootstrap_servers, kafka_settings.topics.corrections)) == 1
