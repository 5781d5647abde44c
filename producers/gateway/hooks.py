"""``POST /v1/hooks/{source_id}``: a tool's own webhook, through that source's adapter.

The source is named in the path (webhook senders rarely let you add headers) and
authenticated by the strongest scheme it has:

- canonical sources: a Standard Webhooks signature, required (signing_secrets);
- tools with their own signature scheme, when the source has signing_secrets: that scheme;
- otherwise one of the source's secrets, as ``Authorization: Bearer <secret>`` or, for tools
  that can only be given a URL, ``?token=<secret>``.

The answer: 200 with the accepted event ids, how many items went to the dead-letter topic
(unknown codes) and how many person signals and volunteer shifts were stored (never counted as
contacts); 422 naming the field when the payload is not what the tool documents.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.config import SourceConfig
from core.settings import GatewaySettings
from producers.gateway.auth import secret_matches
from producers.gateway.checks import (
    check_count,
    check_orgs,
    check_signature,
    parse_events,
    parse_json,
    read_body,
)
from producers.gateway.intake import Intake, Refused
from producers.gateway.signing import ReplayGuard
from producers.gateway.sources import SourceBook
from producers.tools import registry
from producers.tools.base import PayloadError, SignatureError

UNAUTHENTICATED = (
    "unknown source or wrong credential: sign the request with one of the source's "
    "signing_secrets, or send one of its secrets as Authorization: Bearer or ?token="
)


def token_matches(source: SourceConfig, request: Request) -> bool:
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    given = bearer.strip() if scheme.lower() == "bearer" else request.query_params.get("token", "")
    return secret_matches(source, given)


def scrubbed(tool: str, payload: Any, body: bytes) -> bytes:
    """The bytes a dead letter keeps: the body, minus keys the tool should never have sent."""
    drop = registry.tool(tool).scrub
    if not drop or not isinstance(payload, dict) or not set(drop) & payload.keys():
        return body
    return orjson.dumps({k: v for k, v in payload.items() if k not in drop})


def confirmation_headers(source: SourceConfig) -> dict[str, str]:
    """Tools that check a receiver owns its URL (Hustle) by the account id echoed in a
    response header."""
    header = registry.tool(source.tool).confirm_header
    account = source.options.get("account_id")
    if header and account:
        return {header: str(account)}
    return {}


class HookRoute:
    def __init__(
        self, sources: SourceBook, intake: Intake, guard: ReplayGuard, gateway: GatewaySettings
    ) -> None:
        self.sources, self.intake, self.guard, self.gateway = sources, intake, guard, gateway

    async def handle(self, request: Request) -> Response:
        """Authenticated before the body is read where the scheme allows (an unknown source or
        a wrong token never gets to send one); a signature needs the body, read within the
        gateway's size and time limits, at most max_uploads_per_source at once."""
        source = self.sources.get(request.path_params["source_id"])
        if source is None or not (
            registry.tool(source.tool).hook is not None or source.tool == registry.CANONICAL
        ):
            raise Refused(401, "unauthenticated", UNAUTHENTICATED)
        if not self._signed(source) and not token_matches(source, request):
            raise Refused(401, "unauthenticated", UNAUTHENTICATED)
        async with self.intake.uploads.hold(source.id):
            body = await read_body(
                request, self.gateway.max_body_bytes, self.gateway.body_timeout_s
            )
            return await self._store(source, request, body)

    def _signed(self, source: SourceConfig) -> bool:
        """Whether the source authenticates by a signature over the body."""
        if source.tool == registry.CANONICAL:
            return True
        return registry.tool(source.tool).verify is not None and bool(source.signing_secrets)

    async def _store(self, source: SourceConfig, request: Request, body: bytes) -> Response:
        webhook_id = self._authenticate(source, request, body)
        received_ms = self.intake.now_ms()
        try:
            if source.tool == registry.CANONICAL:
                items: list[Any] = parse_events(body, self.gateway.max_batch_events)
                check_orgs(items, source)
            else:
                payload = parse_json(body)
                items = self._adapt(source, payload, received_ms)
                body = scrubbed(source.tool, payload, body)
            stored = await self.intake.store(
                source, source.tool, items, body, received_ms=received_ms
            )
        except Refused:
            if webhook_id:
                self.guard.release(source.id, webhook_id)
            raise
        return JSONResponse(
            {
                "accepted": len(stored.event_ids),
                "dead_lettered": stored.dead_lettered,
                "event_ids": stored.event_ids,
                "signals": stored.signals,
                "shifts": stored.shifts,
            },
            headers=confirmation_headers(source),
        )

    def _authenticate(self, source: SourceConfig, request: Request, body: bytes) -> str | None:
        if source.tool == registry.CANONICAL:
            if not source.signing_secrets:
                raise Refused(401, "unauthenticated", "this source has no signing_secrets")
            return check_signature(request, body, source, self.guard)
        verify = registry.tool(source.tool).verify
        if verify is not None and source.signing_secrets:
            secrets = [s.get_secret_value() for s in source.signing_secrets]
            try:
                verify(request.headers, body, secrets, time.time())
            except SignatureError as exc:
                raise Refused(401, "bad_signature", str(exc)) from None
            return None
        return None  # a token source: checked before the body was read

    def _adapt(self, source: SourceConfig, payload: Any, received_ms: int) -> list[Any]:
        ctx = dataclasses.replace(
            self.sources.context(source.id), received_at=self.intake.iso(received_ms)
        )
        try:
            hook = registry.tool(source.tool).hook
            assert hook is not None  # checked in handle
            items = hook(payload, ctx)
        except PayloadError as exc:
            raise Refused(
                422,
                "bad_payload",
                f"the {source.tool} payload is not what that tool sends: {exc}",
                exc.as_dicts(),
            ) from None
        check_count(len(items), self.gateway.max_batch_events)
        return items
