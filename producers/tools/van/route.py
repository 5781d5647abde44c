"""VAN's own endpoint, ``POST /v4/people/{person}/canvassResponses``, served by fieldstream.

Many tools write each contact to VAN (Spoke's ngpvan action handler, dialers, canvassing
apps) and let the VAN base URL be configured: point it at the gateway and they feed
fieldstream unchanged. As VAN does:

- HTTP Basic auth, user = the application name (here: the source id), password = the API key
  (here: one of the source's secrets), with VAN's ``|0`` / ``|1`` database-mode suffix allowed;
- ``{person}`` is a VAN id or ``{idType}:{id}`` (for example ``stateFileId:PA123``); a path
  that names none is VAN's 400 naming ``vanId``, not a bare 404;
- success is ``204 No Content``; errors are ``{"errors": [{"code", "text", "properties"}]}``,
  naming every field of the body that is wrong.

A code the source's map does not know is not guessed: the contact goes to the dead-letter
topic with a reason naming the code and the source, and the answer is still 204 (it is stored,
and the sending tool could not fix it anyway). When only survey answers are unknown, the
contact is counted and those answers held (producers/tools/van/adapter.py). The dead letter
keeps the request as the route read it (:func:`readmit` reads it again for
``fieldstream dlq replay``): its path (the person is named there), its body, the database mode
and, after a pass-through, VAN's verdict.

What the body says about the person (activist codes applied or removed, smsOptInStatus,
opt-out result codes: :mod:`producers.tools.van.signals`) is stored as person signals beside
the attempt; an opt-in or opt-out is stored even when the body is refused (400) or its
attempt held.

Every accepted request is kept on its event as ``van_request`` (person, body as sent, mode),
so the write-back (sinks/writeback) can post it to VAN unchanged. With the source option
``pass_through: true`` the route forwards the request to VAN itself, synchronously, with the
org's key (``FIELDSTREAM_VAN__API_KEYS``), the source's ``van_app_name`` and the mode the tool
named, and answers the tool with VAN's own answer; it still records the contact, with VAN's
verdict on the event, so the write-back does not post it again (nor after a replay: the
verdict is kept in the dead letter). When VAN gives no answer the tool gets 503 (could not
connect: VAN does not have it) or 504 (no answer in time: VAN may have it), in VAN's error
shape.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.config import SourceConfig
from core.settings import GatewaySettings, VanSettings
from core.van_client import Answer, basic_auth, post_canvass_response
from producers.gateway.auth import basic_credentials, secret_matches
from producers.gateway.checks import parse_json, read_body
from producers.gateway.intake import Intake, Refused
from producers.gateway.sources import SourceBook
from producers.tools.base import AdapterContext, PayloadError, RouteContext, ToolRoute
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


def basic_source(sources: Mapping[str, SourceConfig], authorization: str) -> SourceConfig | None:
    """The VAN source whose name and key match HTTP Basic credentials, or None."""
    credentials = basic_credentials(authorization)
    if credentials is None:
        return None
    user, password = credentials
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
        sources: SourceBook,
        intake: Intake,
        gateway: GatewaySettings,
        van: VanSettings | None = None,
    ) -> None:
        self.sources, self.intake, self.gateway = sources, intake, gateway
        self.van = van or VanSettings()
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
        received_ms = self.intake.now_ms()
        ctx, received_at = self.sources.context(source.id), self.intake.iso(received_ms)
        kept: dict[str, Any] = {"path": request.url.path, "body": payload}
        signals = person_signals(kept, ctx, received_at)
        try:
            items = attempt(kept, ctx, received_at)
        except PayloadError as exc:
            consent: list[Any] = [s for s in signals if is_consent(s)]
            if consent:  # a compliance fact, kept whatever else about the body fails
                await self.intake.store(
                    source, "van", consent, orjson.dumps(kept), received_ms=received_ms
                )
            raise Refused(400, "bad_payload", str(exc), exc.as_dicts()) from None
        kept["mode"] = basic_mode(request.headers.get("authorization", ""))
        as_sent = body.decode("utf-8", errors="replace")
        if not source.options.get("pass_through"):
            await self.intake.store(
                source, "van", items + signals, orjson.dumps(kept), van_attach(kept, as_sent),
                received_ms=received_ms,
            )  # fmt: skip
            return Response(status_code=204)
        mode = kept["mode"]
        answer = await self.forward(source, person_of(kept["path"]), body, mode or 0)
        kept["pass_through_status"] = answer.status or 0
        kept["pass_through_error"] = answer.error_code
        try:
            await self.intake.store(
                source, "van", items + signals, orjson.dumps(kept), van_attach(kept, as_sent),
                received_ms=received_ms,
            )  # fmt: skip
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


def readmit(
    kept: Any, ctx: AdapterContext, received_at: str | None
) -> tuple[list[Any], dict[str, Any] | None]:
    """The items of a request as the route keeps it (``{"path", "body", "mode",
    "pass_through_status", "pass_through_error"}``: the person is in the path), and its
    ``van_request``: what the route adapts on arrival, and a dead-letter replay again."""
    items = attempt(kept, ctx, received_at) + person_signals(kept, ctx, received_at)
    return items, van_attach(kept)


def attempt(kept: Any, ctx: AdapterContext, received_at: str | None) -> list[Any]:
    """The contact attempt of a kept request (a PayloadError naming every bad field)."""
    if not isinstance(kept, dict) or not isinstance(kept.get("path"), str):
        raise PayloadError("path", "is missing: a VAN request is kept as its path and body")
    id_type, person_id = split_person(person_of(kept["path"]))
    return list(
        van.adapt(
            kept.get("body"), ctx, id_type=id_type, person_id=person_id, received_at=received_at
        )
    )


def person_signals(kept: Any, ctx: AdapterContext, received_at: str | None) -> list[Any]:
    """The person signals of a kept request (activist codes, opt-ins and opt-outs); never
    raises for the body (producers/tools/van/signals.py)."""
    try:
        id_type, person_id = split_person(person_of(kept["path"]))
    except (PayloadError, KeyError, TypeError):
        return []
    return list(
        van_signals.signals(
            kept.get("body"), ctx, id_type=id_type, person_id=person_id, received_at=received_at
        )
    )


def van_attach(kept: dict[str, Any], as_sent: str | None = None) -> dict[str, Any]:
    """The ``van_request`` every event of a kept request carries (for the write-back): the
    body as the tool sent it, or as the dead letter kept it (the same JSON, re-serialized)."""
    body = as_sent if as_sent is not None else orjson.dumps(kept.get("body")).decode()
    return {
        "van_request": {
            "person": person_of(kept["path"]),
            "body": body,
            "mode": kept.get("mode"),
            "pass_through_status": kept.get("pass_through_status"),
            "pass_through_error": kept.get("pass_through_error"),
        }
    }


PATH = "/v4/people/{person:path}/canvassResponses"
_PREFIX, _SUFFIX = "/v4/people/", "/canvassResponses"


def person_of(path: str) -> str:
    """The ``{person}`` segment of a canvassResponses path ("" when the path names none)."""
    if not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
        raise PayloadError("path", f"is not {PATH.replace(':path', '')}")
    return path[len(_PREFIX) : -len(_SUFFIX)]


def van_route(ctx: RouteContext) -> ToolRoute:
    """VAN's canvassResponses endpoint on the gateway, refusals in VAN's error shape. The
    path takes any person segment, an empty one too, so that a missing VAN id gets VAN's 400
    naming it rather than a bare 404."""
    return ToolRoute(
        PATH, VanRoute(ctx.sources, ctx.intake, ctx.gateway, ctx.van).handle, van_error
    )
