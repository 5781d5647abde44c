"""``POST /v1/corrections``: a tool voids its own contacts (or undoes a void).

Authenticated like ``/v1/events`` (``X-Fieldstream-Source`` + ``Authorization: Bearer``). A tool
corrects only contacts of its org that it sent itself: the correction's source is the
source's tool, whatever the body says. The body (JSON)::

    {"action": "void", "reason": "walk list flagged as fabricated",
     "source_event_ids": ["a1", "a2"]}                     # the tool's own ids, or
    {"action": "void", "reason": "...", "canvasser_id": "c-17",
     "time_from": "2026-10-20T14:00:00-07:00", "time_to": "2026-10-20T18:00:00-07:00"}
    {"action": "unvoid", "reason": "cleared", "undo": "<correction id>"}

also ``event_ids`` (fieldstream's ids, as /v1/events answered), ``import_run``, ``campaign_id``
and ``requested_by`` (default: the source id). Answers 202 ``{"correction_id": ...}`` once
Kafka acknowledged it; 401, 413, 415, 400 (not JSON), 422 (every problem named) otherwise.
Mounted by create_app (producers/gateway/app.py) with :func:`route`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.config import SourceConfig
from core.errors import BrokerError
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings
from producers.gateway.auth import SOURCE_HEADER, authenticate
from producers.gateway.checks import read_body, refusal_response, require_json
from producers.gateway.intake import Refused
from schemas import CORRECTION, AvroCodec
from schemas.corrections import Selector, correction
from schemas.ids import event_id_for

log = logging.getLogger(__name__)

PATH = "/v1/corrections"
FIELDS = {
    "action", "reason", "requested_by", "campaign_id", "event_ids", "source_event_ids",
    "canvasser_id", "import_run", "time_from", "time_to", "undo",
}  # fmt: skip


def _time(body: dict[str, Any], name: str, problems: list[str]) -> dt.datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(str(value))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        problems.append(f"{name}: an ISO-8601 time with a zone, e.g. 2026-10-20T14:00:00-07:00")
        return None
    return at


def _strings(body: dict[str, Any], name: str, problems: list[str]) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{name}: a list of strings")
        return []
    return value


def _text(body: dict[str, Any], name: str, problems: list[str]) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        problems.append(f"{name}: a string")
        return None
    return value


def build(
    body: Any, source: SourceConfig, now: dt.datetime
) -> tuple[dict[str, Any] | None, list[str]]:
    """The Correction record for a tool's request body, or the problems (for a 422)."""
    if not isinstance(body, dict):
        return None, ["the body must be a JSON object"]
    problems = [f"{k}: not a field of a correction" for k in sorted(set(body) - FIELDS)]
    ids = _strings(body, "event_ids", problems)
    ids += [
        event_id_for(source.org_id, source.tool, i)
        for i in _strings(body, "source_event_ids", problems)
    ]
    selector = Selector(
        campaign_id=_text(body, "campaign_id", problems),
        event_ids=ids,
        canvasser_id=_text(body, "canvasser_id", problems),
        source_system=source.tool,
        import_run=_text(body, "import_run", problems),
        time_from=_time(body, "time_from", problems),
        time_to=_time(body, "time_to", problems),
        undo=_text(body, "undo", problems),
    )
    built = correction(
        str(body.get("action", "")),
        source.org_id,
        selector,
        reason=_text(body, "reason", problems) or "",
        requested_by=_text(body, "requested_by", problems) or source.id,
        requested_at=now,
    )
    return (None, problems + built.problems) if problems or built.problems else (built.record, [])


def route(
    sources: dict[str, SourceConfig],
    kafka: KafkaSettings,
    gateway: GatewaySettings,
    producer: Callable[[], AsyncSender],
    codec: AvroCodec,
) -> Route:
    async def handle(request: Request) -> Response:
        try:
            source = authenticate(
                sources, request.headers.get(SOURCE_HEADER), request.headers.get("authorization")
            )
            if source is None:
                raise Refused(401, "unauthenticated", "send X-Fieldstream-Source and its secret")
            raw = await read_body(request, gateway.max_body_bytes, gateway.body_timeout_s)
            require_json(request)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise Refused(400, "invalid_json", f"the body is not JSON: {exc}") from None
            record, problems = build(body, source, dt.datetime.now(dt.UTC))
            if record is None:
                raise Refused(
                    422,
                    "invalid_correction",
                    "the correction is refused",
                    [{"field": "correction", "problem": p} for p in problems],
                )
            value = codec.encode(CORRECTION, record)
            try:
                await producer().send_many(
                    kafka.topics.corrections, [(source.org_id.encode(), value)]
                )
            except BrokerError as exc:
                log.warning("correction not stored source=%s: %s", source.id, exc)
                raise Refused(503, "kafka_unavailable", "not stored; retry later") from exc
        except Refused as refused:
            return refusal_response(refused)
        log.info(
            "correction %s %s from source %s", record["action"], record["correction_id"], source.id
        )
        return JSONResponse({"correction_id": record["correction_id"]}, status_code=202)

    return Route(PATH, handle, methods=["POST"])
