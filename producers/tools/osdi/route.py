"""OSDI's canvass endpoints on the gateway, under ``/osdi/{source}``: ``POST
people/{id}/record_canvass_helper``, ``people/{id}/canvasses`` and
``canvassing_efforts/{id}/canvasses``.

A tool that speaks OSDI (Action Network, Spoke's OSDI client, a canvassing app written to the
Field Organizing profile) is given ``https://<gateway>/osdi/<source id>`` as its API entry point
and one of the source's secrets as its ``OSDI-API-Token`` header, as the spec's examples send
it. The answer is the spec's: 200 with the canvass (its ``identifiers`` naming fieldstream's
event id when the attempt was accepted), or an ``osdi:error`` (errors.md: ``request_type``,
``response_code``, ``resource_status[].error_descriptions[]{error_code, description,
properties}``). A code the source's options do not map is held in the dead-letter topic and
still answered 200: it is stored, and the sender could not fix it anyway. The dead letter keeps
the request's path and body (the person is in the path), so ``fieldstream dlq replay`` reads it
again through the source's options as they are then (:func:`readmit`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.config import SourceConfig
from core.settings import GatewaySettings
from producers.gateway.auth import secret_matches
from producers.gateway.checks import check_count, parse_json, read_body
from producers.gateway.intake import Intake, Refused
from producers.gateway.sources import SourceBook
from producers.tools.base import AdapterContext, Item, PayloadError, RouteContext, ToolRoute
from producers.tools.osdi import adapter

PATH = "/osdi/{source_id}/{collection}/{ident}/{action}"
ENDPOINTS = {
    ("people", "record_canvass_helper"),
    ("people", "canvasses"),
    ("canvassing_efforts", "canvasses"),
}
TOKEN_HEADER = "osdi-api-token"


def osdi_error(refused: Refused) -> Response:
    """A refusal in OSDI's error shape (errors.md), for one atomic request."""
    properties = [p["field"] for p in refused.problems if "field" in p]
    description = {
        "error_code": refused.error.upper(),
        "description": refused.message,
        "properties": properties,
    }
    body = {
        "osdi:error": {
            "request_type": "atomic",
            "response_code": refused.status,
            "resource_status": [
                {
                    "resource": "osdi:canvass",
                    "response_code": refused.status,
                    "error_descriptions": [description],
                }
            ],
        }
    }
    headers = {"Retry-After": "5"} if refused.status == 503 else None
    return JSONResponse(body, status_code=refused.status, headers=headers)


class OsdiRoute:
    def __init__(self, sources: SourceBook, intake: Intake, gateway: GatewaySettings) -> None:
        self.sources, self.intake, self.gateway = sources, intake, gateway

    async def handle(self, request: Request) -> Response:
        params = request.path_params
        source = self.sources.get(params["source_id"])
        given = request.headers.get(TOKEN_HEADER, "")
        if source is None or source.tool != "osdi" or not secret_matches(source, given):
            raise Refused(
                401,
                "unauthenticated",
                "unknown source or wrong key: send one of the source's secrets as OSDI-API-Token",
            )
        collection, action = params["collection"], params["action"]
        if (collection, action) not in ENDPOINTS:
            raise Refused(
                404,
                "not_supported",
                "fieldstream's OSDI entry point takes canvasses only: POST "
                "people/{id}/record_canvass_helper, people/{id}/canvasses or "
                "canvassing_efforts/{id}/canvasses",
            )
        async with self.intake.uploads.hold(source.id):
            body = await read_body(
                request, self.gateway.max_body_bytes, self.gateway.body_timeout_s
            )
            return await self._store(source, request, body)

    async def _store(self, source: SourceConfig, request: Request, body: bytes) -> Response:
        payload = parse_json(body)
        received_ms = self.intake.now_ms()
        kept = {"path": request.url.path, "body": payload}
        try:
            items, _ = readmit(kept, self.sources.context(source.id), self.intake.iso(received_ms))
        except PayloadError as exc:
            raise Refused(
                400,
                "bad_payload",
                f"the canvass is not what OSDI describes: {exc}",
                exc.as_dicts(),
            ) from None
        check_count(len(items), self.gateway.max_batch_events)
        stored = await self.intake.store(
            source, "osdi", items, orjson.dumps(kept), received_ms=received_ms
        )
        return JSONResponse(_canvass(payload, stored.event_ids, request))


def readmit(
    kept: Any, ctx: AdapterContext, received_at: str | None
) -> tuple[list[Item], dict[str, Any] | None]:
    """The items of a request as the route keeps it (``{"path", "body"}``: the person or the
    canvassing effort is in the path): what the route adapts on arrival, and a dead-letter
    replay adapts again."""
    path = kept.get("path") if isinstance(kept, dict) else None
    parts = path.strip("/").split("/") if isinstance(path, str) else []
    if len(parts) != 5 or parts[0] != "osdi" or (parts[2], parts[4]) not in ENDPOINTS:
        raise PayloadError("path", "is not an OSDI canvass endpoint's path")
    _, _, collection, ident, action = parts
    payload = kept["body"]
    ctx = dataclasses.replace(ctx, received_at=received_at)
    if action == "record_canvass_helper":
        items = adapter.adapt_helper(payload, ctx, person_id=ident, received_at=received_at)
    elif collection == "people":
        items = adapter.adapt_canvass(payload, ctx, person_id=ident, received_at=received_at)
    else:
        items = adapter.adapt_canvass(payload, ctx, effort_id=ident, received_at=received_at)
    return items, None


def _canvass(payload: Any, event_ids: list[str], request: Request) -> dict[str, Any]:
    """The canvass as recorded, in OSDI's representation."""
    sent = payload.get("canvass", payload) if isinstance(payload, dict) else {}
    fields = ("origin_system", "action_date", "contact_type", "input_type", "success")
    out: dict[str, Any] = {k: sent[k] for k in fields if isinstance(sent, dict) and k in sent}
    out["status_code"] = sent.get("status_code", "") if isinstance(sent, dict) else ""
    out["identifiers"] = [f"fieldstream:{event_id}" for event_id in event_ids]
    out["_links"] = {"self": {"href": str(request.url)}}
    return out


def osdi_route(ctx: RouteContext) -> ToolRoute:
    """OSDI's canvass endpoints on the gateway, refusals in OSDI's error shape."""
    return ToolRoute(PATH, OsdiRoute(ctx.sources, ctx.intake, ctx.gateway).handle, osdi_error)
