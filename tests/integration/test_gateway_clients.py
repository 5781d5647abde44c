"""Slow and abusive clients at the gateway (real app, real Tansu): a request is authenticated
before its body is read wherever the scheme allows, a body that stalls is cut off, and one
source cannot hold more than max_uploads_per_source requests at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from core.config import SourceConfig
from core.kafka import ensure_topics, producer_config
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.app import create_app

pytestmark = pytest.mark.integration

SOURCES = {
    s["id"]: SourceConfig.model_validate(s)
    for s in [
        {"id": "tool", "org_id": "org-a", "secrets": ["s3cret"]},
        {"id": "spoke", "org_id": "org-a", "secrets": ["tok"], "tool": "spoke",
         "campaign_id": "gotv"},
    ]
}  # fmt: skip
EVENT = {
    "source_system": "tool",
    "source_event_id": "slow-1",
    "org_id": "org-a",
    "campaign_id": "gotv",
    "channel": "phone",
    "occurred_at": "2026-11-24T15:04:05+00:00",
    "person": {"voter_id": "V1", "state": "ZZ"},
    "result": "busy",
    "result_raw": "18",
}
GATEWAY = GatewaySettings(body_timeout_s=0.5, max_uploads_per_source=2)


class Stalled:
    """A request body that sends a first chunk, then nothing until released."""

    def __init__(self) -> None:
        self.started = False
        self.release = asyncio.Event()

    async def body(self) -> AsyncIterator[bytes]:
        self.started = True
        yield b'{"events": ['
        await self.release.wait()
        yield b"]}"


async def gateway(kafka: KafkaSettings) -> tuple[httpx.AsyncClient, AsyncSender]:
    producer = AsyncSender(producer_config(kafka))
    app = create_app(sources=SOURCES, kafka=kafka, gateway=GATEWAY, producer=producer)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    return client, producer


def run(kafka: KafkaSettings, test: Any) -> None:
    async def main() -> None:
        client, producer = await gateway(kafka)
        try:
            await test(client)
        finally:
            await client.aclose()
            producer.close()

    asyncio.run(main())


def test_unknown_sources_and_wrong_tokens_are_refused_before_the_body(
    kafka_settings: KafkaSettings,
) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        for url, headers in [
            ("/v1/hooks/no-such-source", {}),
            ("/v1/hooks/spoke", {"authorization": "Bearer wrong"}),
            ("/v1/hooks/spoke", {}),
            ("/v1/events", {"x-fieldstream-source": "tool", "authorization": "Bearer no"}),
        ]:
            stalled = Stalled()
            resp = await asyncio.wait_for(
                client.post(url, content=stalled.body(), headers=headers), 5
            )
            assert resp.status_code == 401, (url, resp.text)
            assert not stalled.started, url  # answered without waiting for a body

    run(kafka_settings, test)


def test_a_stalled_body_is_cut_off(kafka_settings: KafkaSettings) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        headers = {"x-fieldstream-source": "tool", "authorization": "Bearer s3cret"}
        for url, h in [("/v1/events", headers), ("/v1/hooks/spoke?token=tok", {})]:
            stalled = Stalled()
            resp = await asyncio.wait_for(client.post(url, content=stalled.body(), headers=h), 10)
            assert resp.status_code == 408 and resp.json()["error"] == "body_timeout", url
            assert stalled.started

    run(kafka_settings, test)


def test_one_source_holds_at_most_its_share(kafka_settings: KafkaSettings) -> None:
    ensure_topics(kafka_settings)
    headers = {"x-fieldstream-source": "tool", "authorization": "Bearer s3cret"}

    async def test(client: httpx.AsyncClient) -> None:
        stalls = [Stalled() for _ in range(GATEWAY.max_uploads_per_source)]
        held = [
            asyncio.create_task(client.post("/v1/events", content=s.body(), headers=headers))
            for s in stalls
        ]
        while not all(s.started for s in stalls):
            await asyncio.sleep(0.01)
        extra = await client.post("/v1/events", content=orjson.dumps(EVENT), headers=headers)
        assert extra.status_code == 429 and extra.json()["error"] == "too_many_uploads"
        other = await client.post("/v1/hooks/spoke?token=tok", content=b"{}")
        assert other.status_code != 429  # another source is not held up by this one
        assert [r.status_code for r in await asyncio.gather(*held)] == [408, 408]
        again = await client.post("/v1/events", content=orjson.dumps(EVENT), headers=headers)
        assert again.status_code == 202, again.text

    run(kafka_settings, test)
