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

What the body says about the person (activist codes applied or removed, smsOptInStatus,
opt-out result codes: :mod:`producers.tools.van.signals`) is stored as person signals beside
the attempt; an opt-in or opt-out is stored even when the body is refused (400) or its
attempt held.

Every accepted request is kept on its event as ``van_request`` (person, body as sent, mode),
so the write-back (sinks/writeback) can post it to VAN unchanged. With the source option
``pass_through: true`` the route forwards the request to VAN itself, synchronously, with the
org's key (``FIELDSTREAM_VAN__API_KEYS``), the source's ``van_app_name`` and the mode the tool
named, and answers the tool with VAN's own answer; it still records the contact, with VAN's
verdict on the event, so the write-back does not post it again. When VAN gives no answer the
tool gets 503 (could not connect: VAN does not have it) or 504 (no answer in time: VAN may
have it), in VAN's error shape.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.config import SourceConfig
from core.settings import GatewaySettings, VanSettings
from core.van_client import Answer, basic_auth, post_canvass_response
from producers.gateway.auth import secret_matches
from producers.gateway.checks import parse_json, read_body
from producers.gateway.intake import Intake, Refused
from producers.tools import registry
from producers.tools.base import PayloadError, RouteContext, ToolRoute
from producers.tools.records import is_consent
from producers.tools.van import adapter as van
from producers.tools.van import signals as van_signals

log = logging.getLogger(__name__)
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
        self,
        sources: dict[str, SourceConfig],
        intake: Intake,
        gateway: GatewaySettings,
        van: VanSettings | None = None,
    ) -> None:
        self.sources, self.intake, self.gateway = sources, intake, gateway
        self.van = van or VanSettings()
        self.contexts = {s.id: registry.context_for(s) for s in sources.values() if s.tool == "van"}
        self._client: httpx.AsyncClient | None = None

    async def forward(self, source: SourceConfig, person: str, body: bytes, mode: int) -> Answer:
        """The pass-through: this request to VAN itself, with the org's key."""
        key = self.van.api_keys.get(source.org_id)
        app_name = source.options.get("van_app_name")
        if key is None or not isinstance(app_name, str) or not app_name:
            raise Refused(
                503,
                "pass_through_not_configured",
                f"source {source.id!r} passes requests through to VAN but has no van_app_name "
                "option or its org has no VAN key (FIELDSTREAM_VAN__API_KEYS)",
            )
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.van.pass_through_timeout_s)
        auth = basic_auth(app_name, key, mode)
        return await post_canvass_response(self._client, self.van.base_url, auth, person, body)

    async def handle(self, request: Request) -> Response:
        source = basic_source(self.sources, request.headers.get("authorization", ""))
        if source is None:
            raise Refused(
                401,
                "unauthenticated",
                "send HTTP Basic auth: user = the source id, password = one of its secrets",
            )
        async with self.intake.uploads.hold(source.id):
            body = await read_body(
                request, self.gateway.max_body_bytes, self.gateway.body_timeout_s
            )
            return await self._store(source, request, body)

    async def _store(self, source: SourceConfig, request: Request, body: bytes) -> Response:
        payload = parse_json(body)
        id_type, person_id = split_person(request.path_params["person"])
        ctx, received_at = self.contexts[source.id], self.intake.received_at()
        original = orjson.dumps({"path": request.url.path, "body": payload})
        signals = van_signals.signals(
            payload, ctx, id_type=id_type, person_id=person_id, received_at=received_at
        )
        try:
            items: list[Any] = van.adapt(
                payload, ctx, id_type=id_type, person_id=person_id, received_at=received_at
            )
        except PayloadError as exc:
            consent: list[Any] = [s for s in signals if is_consent(s)]
            if consent:  # a compliance fact, kept whatever else about the body fails
                await self.intake.store(source, "van", consent, original)
            raise Refused(
                400,
                "bad_payload",
                str(exc),
                [{"index": 0, "field": exc.field, "problem": exc.problem}],
            ) from None
        person = request.path_params["person"]
        mode = basic_mode(request.headers.get("authorization", ""))
        van_request: dict[str, Any] = {
            "person": person,
            "body": body.decode("utf-8", errors="replace"),
            "mode": mode,
            "pass_through_status": None,
            "pass_through_error": None,
        }
        if not source.options.get("pass_through"):
            await self.intake.store(
                source, "van", items + signals, original, {"van_request": van_request}
            )
            return Response(status_code=204)
        answer = await self.forward(source, person, body, mode if mode is not None else 0)
        van_request |= {
            "pass_through_status": answer.status or 0,
            "pass_through_error": answer.error_code,
        }
        try:
            await self.intake.store(
                source, "van", items + signals, original, {"van_request": van_request}
            )
        except Refused:
            if answer.kind != "posted":
                raise
            # VAN has it: answering an error would make the tool post it to VAN again
            log.error(
                "pass-through: VAN took a contact that fieldstream could not store source=%s",
                source.id,
            )
        return passed_answer(answer)


def passed_answer(answer: Answer) -> Response:
    """What the tool hears after a pass-through: VAN's own answer, or why there was none."""
    if answer.status is not None:
        headers = {}
        if answer.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(answer.retry_after)))
        media = "application/json" if answer.content else None
        return Response(answer.content, answer.status, headers=headers, media_type=media)
    if answer.error_code == "connect_failed":
        status, text = 503, "VAN could not be reached; it does not have this contact. Retry later."
    else:
        status, text = 504, "VAN did not answer in time; it may have recorded this contact."
    error = {"code": "VAN_UNAVAILABLE", "text": text + " fieldstream recorded the contact."}
    return JSONResponse({"errors": [error]}, status_code=status, headers={"Retry-After": "30"})


def van_route(ctx: RouteContext) -> ToolRoute:
    """VAN's canvassResponses endpoint on the gateway, refusals in VAN's error shape."""
    return ToolRoute(
        "/v4/people/{person}/canvassResponses",
        VanRoute(ctx.sources, ctx.intake, ctx.gateway, ctx.van).handle,
        van_error,
    )
