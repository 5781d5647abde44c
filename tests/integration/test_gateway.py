"""The gateway on a real Tansu broker: 202 only with the events on Kafka; every bad input a
clear 4xx, and a refused batch puts nothing on the topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from confluent_kafka import Consumer

from core.config import SourceConfig
from core.kafka import ensure_topics, producer_config
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.app import create_app
from schemas import CONTACT_EVENT, AvroCodec
from schemas.ids import event_id_for

pytestmark = pytest.mark.integration
T = TypeVar("T")
SECRET = "test-secret"
HEADERS = {"X-Fieldstream-Source": "tool", "Authorization": f"Bearer {SECRET}"}
SOURCES = {
    "tool": SourceConfig.model_validate({"id": "tool", "org_id": "org-a", "secrets": [SECRET]})
}
EVENT: dict[str, Any] = {
    "source_system": "tool",
    "source_event_id": "1",
    "org_id": "org-a",
    "campaign_id": "gotv",
    "channel": "phone",
    "occurred_at": "2026-11-24T15:04:05+00:00",
    "person": {"voter_id": "V1", "state": "ZZ"},
    "result": "busy",
    "result_raw": "18",
}


def with_gateway(
    kafka: KafkaSettings,
    body: Callable[[httpx.AsyncClient], Awaitable[T]],
    gateway: GatewaySettings | None = None,
) -> T:
    async def main() -> T:
        producer = AsyncSender(producer_config(kafka))
        app = create_app(
            sources=SOURCES, kafka=kafka, gateway=gateway or GatewaySettings(), producer=producer
        )
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await body(client)
        finally:
            producer.close()

    return asyncio.run(main())


def consume_all(kafka: KafkaSettings, expect: int, wait_s: float = 15.0) -> list[bytes]:
    c = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"check-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 20,
            "session.timeout.ms": 6000,
        }
    )
    c.subscribe([kafka.topics.raw])
    out: list[bytes] = []
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline and len(out) < expect:
            out += [m.value() for m in c.consume(100, 0.3) if m.error() is None]
        # then a short while longer, to see that nothing more arrives
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            out += [m.value() for m in c.consume(100, 0.3) if m.error() is None]
    finally:
        c.close()
    return out


def test_accepted_events_are_on_kafka_as_avro(kafka_settings: KafkaSettings) -> None:
    ensure_topics(kafka_settings)
    batch = [dict(EVENT, source_event_id=str(i)) for i in range(5)]

    async def body(client: httpx.AsyncClient) -> httpx.Response:
        single = await client.post("/v1/events", json=EVENT, headers=HEADERS)
        assert single.status_code == 202, single.text
        return await client.post("/v1/events", json={"events": batch}, headers=HEADERS)

    r = with_gateway(kafka_settings, body)
    assert r.status_code == 202 and r.json()["accepted"] == 5
    assert r.json()["event_ids"][2] == event_id_for("org-a", "tool", "2")
    codec = AvroCodec()
    records = [codec.decode(v, expect=CONTACT_EVENT)[1] for v in consume_all(kafka_settings, 6)]
    assert len(records) == 6
    assert {r["source_event_id"] for r in records} == {"0", "1", "2", "3", "4"}
    assert all(r["received_at"].year >= 2026 and r["result"] == "busy" for r in records)


def test_bad_inputs_get_a_clear_4xx_and_nothing_is_produced(
    kafka_settings: KafkaSettings,
) -> None:
    ensure_topics(kafka_settings)
    gateway = GatewaySettings(max_body_bytes=4096, max_batch_events=10)
    wrong_types = dict(EVENT, channel=3, occurred_at="soon", person={"voter_id": 7})
    missing = {k: v for k, v in EVENT.items() if k not in ("campaign_id", "result")}

    async def body(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
        post = client.post
        return {
            "malformed": await post("/v1/events", content=b'{"a": ', headers=HEADERS),
            "types": await post("/v1/events", json=[EVENT, wrong_types], headers=HEADERS),
            "missing": await post("/v1/events", json=missing, headers=HEADERS),
            "org": await post("/v1/events", json=dict(EVENT, org_id="org-b"), headers=HEADERS),
            "secret": await post(
                "/v1/events", json=EVENT, headers={**HEADERS, "Authorization": "Bearer x"}
            ),
            "nosource": await post("/v1/events", json=EVENT),
            "big": await post("/v1/events", content=b"[" + b" " * 5000 + b"]", headers=HEADERS),
            "many": await post("/v1/events", json=[EVENT] * 11, headers=HEADERS),
            "ctype": await post(
                "/v1/events",
                content=orjson.dumps(EVENT),
                headers={**HEADERS, "Content-Type": "text/plain"},
            ),
        }

    r = with_gateway(kafka_settings, body, gateway)
    assert r["malformed"].status_code == 400 and r["malformed"].json()["error"] == "malformed_json"
    assert r["types"].status_code == 422
    fields = {(p["index"], p["field"]) for p in r["types"].json()["problems"]}
    assert {
        (1, "channel"),
        (1, "occurred_at"),
        (1, "person.voter_id"),
    } <= fields
    assert all(p["index"] == 1 for p in r["types"].json()["problems"])
    missing_fields = {p["field"] for p in r["missing"].json()["problems"]}
    assert r["missing"].status_code == 422 and missing_fields == {"campaign_id", "result"}
    assert r["org"].status_code == 403 and "org-a" in r["org"].json()["message"]
    assert r["secret"].status_code == 401 and "x" not in r["secret"].json()["message"].split()
    assert r["nosource"].status_code == 401
    assert r["big"].status_code == 413 and "4096" in r["big"].json()["message"]
    assert r["many"].status_code == 413 and "10" in r["many"].json()["message"]
    assert r["ctype"].status_code == 415
    # the good first event of the refused batch was not produced either
    assert consume_all(kafka_settings, 1, wait_s=3) == []


def test_health_and_metrics(kafka_settings: KafkaSettings) -> None:
    async def body(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        await client.post("/v1/events", json=EVENT, headers={})
        return await client.get("/healthz"), await client.get("/metrics")

    health, metrics = with_gateway(kafka_settings, body)
    assert health.status_code == 200 and health.json() == {"ready": True}
    assert 'fieldstream_gateway_requests_total{status="401"} 1.0' in metrics.text
