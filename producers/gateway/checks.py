"""Request checks every gateway route shares: size, JSON, batch shape, org, signature."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.config import SourceConfig
from producers.gateway.intake import Refused
from producers.gateway.signing import ReplayError, ReplayGuard, verify_standard
from producers.tools.base import SignatureError


def refusal_response(refused: Refused) -> JSONResponse:
    body: dict[str, Any] = {"error": refused.error, "message": refused.message}
    if refused.problems:
        body["problems"] = refused.problems
    headers = {"Retry-After": "5"} if refused.status == 503 else None
    return JSONResponse(body, status_code=refused.status, headers=headers)


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refused past ``limit`` bytes (413) or when it has not all arrived within
    ``timeout_s`` seconds (408: a stalled upload holds nothing for longer)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _read(request, limit)
    except TimeoutError:
        raise Refused(
            408, "body_timeout", f"the body did not arrive within {timeout_s:g} s"
        ) from None


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = Refused(
        413,
        "body_too_large",
        f"the body is over the limit of {limit} bytes; send fewer events per request",
    )
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


def parse_events(body: bytes, max_events: int) -> list[Any]:
    doc = parse_json(body)
    if isinstance(doc, dict) and set(doc) == {"events"}:
        doc = doc["events"]
        if not isinstance(doc, list):
            raise Refused(400, "bad_envelope", '"events" must be an array of events')
    events = doc if isinstance(doc, list) else [doc]
    if not events:
        raise Refused(400, "empty_batch", "the batch has no events")
    check_count(len(events), max_events)
    return events


def check_count(n: int, max_events: int) -> None:
    """413 when one request carries more events than the gateway takes at once."""
    if n > max_events:
        raise Refused(
            413, "too_many_events", f"{n} events in one request; the limit is {max_events}"
        )


def check_orgs(events: list[Any], source: SourceConfig) -> None:
    wrong = [
        {
            "index": i,
            "field": "org_id",
            "problem": f"org {e['org_id']!r} is not the org of source {source.id!r}",
        }
        for i, e in enumerate(events)
        if isinstance(e, dict) and isinstance(e.get("org_id"), str) and e["org_id"] != source.org_id
    ]
    if wrong:
        raise Refused(
            403,
            "wrong_org",
            f"source {source.id!r} may only send events of org {source.org_id!r}",
            wrong,
        )


def require_json(request: Request) -> None:
    ctype = request.headers.get("content-type", "application/json")
    if "json" not in ctype.lower():
        raise Refused(
            415, "unsupported_media_type", f"send Content-Type: application/json, not {ctype!r}"
        )


def check_signature(
    request: Request, body: bytes, source: SourceConfig, guard: ReplayGuard
) -> str | None:
    """Verify a Standard Webhooks signature when the request carries one, or when the source
    has signing secrets (then it must); reserve its id against replays. Returns the id."""
    if "webhook-signature" not in request.headers and not source.signing_secrets:
        return None
    secrets = [s.get_secret_value() for s in source.signing_secrets]
    try:
        webhook_id = verify_standard(request.headers, body, secrets)
        guard.reserve(source.id, webhook_id)
    except ReplayError as exc:
        raise Refused(409, "replayed_webhook", str(exc)) from None
    except SignatureError as exc:
        raise Refused(401, "bad_signature", str(exc)) from None
    return webhook_id
