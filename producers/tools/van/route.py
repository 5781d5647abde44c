"""VAN's own endpoint, ``POST /v4/people/{person}/canvassResponses``, served by fieldstream.

Many tools write each contact to VAN (Spoke's ngpvan action handler, dialers, canvassing
apps) and let the VAN base URL be configured: point it at the gateway and they feed
fieldstream unchanged. As VAN does:

- HTTP Basic auth, user = the application name (here: the source id), password = the API key
  (here: one of the source's secrets), with VAN's ``|0`` / ``|1`` database-mode suffix allowed;
- ``{person}`` is a VAN id or ``{idType}:{id}`` (for example ``stateFileId:PA123``);
- success is ``204 No Content``; errors are ``{"errors": [{"code", "text", "properties"}]}``.

A code the source's map does not know is not guessed: the contact goes to the dead-letter
topic with a reason naming the code and the source, and the answer is still 204 (it is stored,
and the sending tool could not fix it anyway). The dead letter's bytes are the request's path
and body as JSON, because the person is named in the path.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.config import SourceConfig
from core.settings import GatewaySettings
from producers.gateway.auth import secret_matches
from producers.gateway.checks import parse_json, read_body
from producers.gateway.intake import Intake, Refused
from producers.tools import registry
from producers.tools.base import PayloadError, ToolRoute
from producers.tools.van import adapter as van

VAN_CODES = {400: "INVALID_PARAMETER", 401: "UNAUTHORIZED", 413: "TOO_LARGE"}


def van_error(refused: Refused) -> Response:
    """A refusal in VAN's error shape."""
    properties = [p["field"] for p in refused.problems if "field" in p]
    error = {
        "code": VAN_CODES.get(refused.status, refused.error.upper()),
        "text": refused.message,
        "properties": properties,
    }
    headers = {"Retry-After": "5"} if refused.status == 503 else None
    return JSONResponse({"errors": [error]}, status_code=refused.status, headers=headers)


def basic_source(sources: dict[str, SourceConfig], authorization: str) -> SourceConfig | None:
    """The VAN source whose name and key match HTTP Basic credentials, or None."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, bar, mode = password.rpartition("|")
    if not bar or mode not in ("0", "1"):
        key = password
    source = sources.get(user)
    if source is None or source.tool != "van":
        return None
    return source if secret_matches(source, key) else None


def basic_mode(authorization: str) -> int | None:
    """The VAN database mode (the ``|0`` / ``|1`` after the key) a tool named, if any."""
    try:
        password = base64.b64decode(authorization.partition(" ")[2].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    mode = password.rpartition(":")[2].rpartition("|")
    return int(mode[2]) if mode[1] and mode[2] in ("0", "1") else None


def split_person(person: str) -> tuple[str, str]:
    """(id type, id) of the path's person: ``123`` is a VAN id, else ``{idType}:{id}``."""
    id_type, colon, person_id = person.partition(":")
    if not colon:
        return "vanid", person
    return id_type, person_id


class VanRoute:
    def __init__(
        self, sources: dict[str, SourceConfig], intake: Intake, gateway: GatewaySettings
    ) -> None:
        self.sources, self.intake, self.gateway = sources, intake, gateway
        self.contexts = {s.id: registry.context_for(s) for s in sources.values() if s.tool == "van"}

    async def handle(self, request: Request) -> Response:
        source = basic_source(self.sources, request.headers.get("authorization", ""))
        if source is None:
            raise Refused(
                401,
                "unauthenticated",
                "send HTTP Basic auth: user = the source id, password = one of its secrets",
            )
        body = await read_body(request, self.gateway.max_body_bytes)
        payload = parse_json(body)
        id_type, person_id = split_person(request.path_params["person"])
        try:
            items: list[Any] = van.adapt(
                payload,
                self.contexts[source.id],
                id_type=id_type,
                person_id=person_id,
                received_at=self.intake.received_at(),
            )
        except PayloadError as exc:
            raise Refused(
                400,
                "bad_payload",
                str(exc),
                [{"index": 0, "field": exc.field, "problem": exc.problem}],
            ) from None
        original = orjson.dumps({"path": request.url.path, "body": payload})
        van_request = {
            "person": request.path_params["person"],
            "body": body.decode("utf-8", errors="replace"),
            "mode": basic_mode(request.headers.get("authorization", "")),
            "pass_through_status": None,
            "pass_through_error": None,
        }
        await self.intake.store(source, "van", items, original, {"van_request": van_request})
        return Response(status_code=204)


def van_route(
    sources: dict[str, SourceConfig], intake: Intake, gateway: GatewaySettings
) -> ToolRoute:
    """VAN's canvassResponses endpoint on the gateway, refusals in VAN's error shape."""
    return ToolRoute(
        "/v4/people/{person}/canvassResponses", VanRoute(sources, intake, gateway).handle, van_error
    )
