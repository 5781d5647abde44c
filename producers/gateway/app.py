"""The webhook gateway: POST /v1/events -> Avro on contacts.raw, 202 only after Kafka acked.

Checks, in order: credential (401), body size (413), content type (415), JSON (400), batch
size (413), org of every event against the credential's (403), the data standard (422, every
problem of every event). A batch is all-or-nothing: one bad event refuses the whole request
and nothing is produced, so a sender can fix and resend it as is.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fieldstream.config import SourceConfig
from fieldstream.errors import BrokerError
from fieldstream.kafka import producer_config
from fieldstream.settings import GatewaySettings, KafkaSettings
from producers.gateway.auth import SOURCE_HEADER, authenticate
from producers.gateway.metrics import GatewayMetrics
from producers.kafka_async import AsyncProducer
from schemas import CONTACT_EVENT, AvroCodec
from schemas.jsonconv import ContactJson, Problem

log = logging.getLogger(__name__)


class Refused(Exception):
    def __init__(
        self, status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.problems = problems or []

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.problems:
            body["problems"] = self.problems
        headers = {"Retry-After": "5"} if self.status == 503 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Refused(
            413,
            "body_too_large",
            f"the body is over the limit of {limit} bytes; send fewer events per request",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(
                413,
                "body_too_large",
                f"the body is over the limit of {limit} bytes; send fewer events per request",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_events(body: bytes, max_events: int) -> list[Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if isinstance(doc, dict) and set(doc) == {"events"}:
        doc = doc["events"]
        if not isinstance(doc, list):
            raise Refused(400, "bad_envelope", '"events" must be an array of events')
    events = doc if isinstance(doc, list) else [doc]
    if not events:
        raise Refused(400, "empty_batch", "the batch has no events")
    if len(events) > max_events:
        raise Refused(
            413,
            "too_many_events",
            f"{len(events)} events in one request; the limit is {max_events}",
        )
    return events


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


def convert_all(
    converter: ContactJson, events: list[Any], received_ms: int
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for i, event in enumerate(events):
        record, found = converter.convert(event, received_ms)
        problems.extend(_problem(i, p) for p in found)
        if record is not None:
            records.append(record)
    if problems:
        n_bad = len({p["index"] for p in problems})
        raise Refused(
            422,
            "invalid_events",
            f"{n_bad} of {len(events)} events do not fit the "
            "data standard; nothing was accepted. Fix the fields named and resend.",
            problems,
        )
    return records


def _problem(index: int, p: Problem) -> dict[str, Any]:
    return {"index": index, "field": p.field, "problem": p.problem}


def create_app(
    *,
    sources: dict[str, SourceConfig],
    kafka: KafkaSettings,
    gateway: GatewaySettings,
    producer: AsyncProducer | None = None,
    codec: AvroCodec | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    codec = codec or AvroCodec()
    converter = ContactJson()
    metrics = GatewayMetrics()
    state: dict[str, AsyncProducer] = {} if producer is None else {"producer": producer}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        own = producer is None
        state["producer"] = producer or AsyncProducer(producer_config(kafka))
        try:
            yield
        finally:
            if own:
                state["producer"].close()

    async def post_events(request: Request) -> Response:
        started = time.perf_counter()
        source_id = request.headers.get(SOURCE_HEADER)
        try:
            response = await _accept(request, source_id)
        except Refused as refused:
            metrics.refused.labels(refused.error).inc()
            log.info(
                "refused source=%s status=%d error=%s",
                _safe(source_id),
                refused.status,
                refused.error,
            )
            response = refused.response()
        metrics.requests.labels(str(response.status_code)).inc()
        metrics.request_seconds.observe(time.perf_counter() - started)
        return response

    async def _accept(request: Request, source_id: str | None) -> Response:
        source = authenticate(sources, source_id, request.headers.get("authorization"))
        if source is None:
            raise Refused(
                401,
                "unauthenticated",
                "send X-Fieldstream-Source with your source id "
                "and Authorization: Bearer <secret> of that source",
            )
        body = await read_body(request, gateway.max_body_bytes)
        ctype = request.headers.get("content-type", "application/json")
        if "json" not in ctype.lower():
            raise Refused(
                415, "unsupported_media_type", f"send Content-Type: application/json, not {ctype!r}"
            )
        events = parse_events(body, gateway.max_batch_events)
        check_orgs(events, source)
        records = convert_all(converter, events, int(clock() * 1000))
        messages = [(r["event_id"].encode(), codec.encode(CONTACT_EVENT, r)) for r in records]
        t0 = time.perf_counter()
        try:
            await state["producer"].send_many(kafka.topics.raw, messages, gateway.produce_timeout_s)
        except BrokerError as exc:
            log.warning("produce failed source=%s events=%d: %s", source.id, len(records), exc)
            raise Refused(
                503, "kafka_unavailable", "events were not stored; retry later with the same events"
            ) from exc
        metrics.produce_seconds.observe(time.perf_counter() - t0)
        metrics.accepted.labels(source.id).inc(len(records))
        log.debug("accepted source=%s events=%d", source.id, len(records))
        return JSONResponse(
            {"accepted": len(records), "event_ids": [r["event_id"] for r in records]},
            status_code=202,
        )

    async def healthz(_request: Request) -> Response:
        p = state.get("producer")
        ok = p is not None and p.healthy()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    async def metrics_page(_request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/v1/events", post_events, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics_page),
        ],
        lifespan=lifespan,
    )


def _safe(source_id: str | None) -> str:
    """A source id fit for a log line (it is sender-controlled)."""
    return (source_id or "-")[:64].encode("ascii", "replace").decode()
