"""Refusals a data manager can act on: the VAN route names every problem, an empty VAN id is a
400 naming it (not a bare 404), and every refusal is logged with the source it claims. Every
request here is refused before anything is produced, so no broker is involved."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import httpx
import pytest

from core.config import SourceConfig
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.app import create_app

SOURCES = {
    "van-app": SourceConfig.model_validate(
        {"id": "van-app", "org_id": "o", "secrets": ["k1"], "tool": "van", "campaign_id": "c"}
    ),
    "spoke": SourceConfig.model_validate(
        {"id": "spoke", "org_id": "o", "secrets": ["k1"], "tool": "spoke", "campaign_id": "c"}
    ),
}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"van-app:k1|1").decode()}


class NoProducer:
    """Stands where the producer would be: these requests never reach it."""

    def healthy(self) -> bool:
        return True

    async def send_many(self, *_: Any) -> None:
        raise AssertionError("a refused request must produce nothing")

    def close(self) -> None:
        pass


def post(path: str, **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        app = create_app(
            sources=SOURCES,
            kafka=KafkaSettings(),
            gateway=GatewaySettings(),
            producer=NoProducer(),  # type: ignore[arg-type]
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.post(path, **kwargs)

    return asyncio.run(main())


def test_the_van_route_names_every_problem_of_a_body() -> None:
    body = {
        "canvassContext": {"dateCanvassed": "yesterday", "contactTypeId": "walk"},
        "resultCodeId": "abc",
        "responses": [{"type": "Note"}, {"type": "SurveyResponse", "surveyQuestionId": 1}],
    }
    r = post("/v4/people/123/canvassResponses", json=body, headers=BASIC)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["code"] == "INVALID_PARAMETER"
    assert error["properties"] == [
        "canvassContext.dateCanvassed",
        "canvassContext.contactTypeId",
        "resultCodeId",
        "responses[0].type",
        "responses[1].surveyResponseId",
    ]
    assert "yesterday" in error["text"] and "resultCodeId" in error["text"]


@pytest.mark.parametrize("path", ["/v4/people//canvassResponses", "/v4/people/ /canvassResponses"])
def test_an_empty_van_id_is_a_400_naming_it(path: str) -> None:
    r = post(path, json={"resultCodeId": 14}, headers=BASIC)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["properties"] == ["vanId"]
    assert "names no person" in error["text"]


def test_every_refusal_is_logged_with_its_source(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="producers.gateway.app")
    assert post("/v4/people/1/canvassResponses", content=b"{", headers=BASIC).status_code == 400
    wrong = {"Authorization": "Basic " + base64.b64encode(b"van-app:nope").decode()}
    assert post("/v4/people/1/canvassResponses", json={}, headers=wrong).status_code == 401
    assert post("/v1/hooks/spoke", params={"token": "k1"}, json={}).status_code == 422
    assert post("/v1/events", json={}, headers={"X-Fieldstream-Source": "x"}).status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(lines) == 4
    assert "route=van source=van-app status=400 error=malformed_json" in lines[0]
    assert "route=van source=van-app status=401" in lines[1]
    assert "route=hooks source=spoke status=422 error=bad_payload" in lines[2]
    assert "fields=" in lines[2] and "fields=-" not in lines[2]
    assert "route=events source=x status=401" in lines[3]
    assert all("nope" not in line and "k1" not in line for line in lines)
