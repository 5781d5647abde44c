"""The webhook gateway: tool payloads -> Avro on contacts.raw, 2xx only after Kafka acked.

Routes:

- ``POST /v1/events``: the data standard's own JSON (one event, an array, or
  ``{"events": [...]}``), for tools that speak it; ``X-Fieldstream-Source`` +
  ``Authorization: Bearer <secret>``, and a Standard Webhooks signature when one is sent.
- ``POST /v1/hooks/{source_id}``: a tool's own webhook (Spoke, CallHub, Hustle, or canonical
  JSON signed with Standard Webhooks), through that source's adapter (see hooks.py).
- a tool's own API shape, where a tool has one (producers/tools/<tool>/): VAN's
  ``POST /v4/people/{person}/canvassResponses``, for tools whose VAN base URL can point here.

Checks on /v1/events, in order: credential (401), body size (413), content type (415), JSON
(400), batch size (413), org of every event against the credential's (403), the data standard
(422, every problem of every event). A batch is all-or-nothing. Every refusal, on every route,
is logged with the source the request claims, its status, its error code and the fields named.

The sources are live (producers/gateway/sources.py): sources.yaml and the codes files it names
are checked every ``gateway.reload_check_s`` and on SIGHUP; an edit takes effect without a
restart, a broken one is refused and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.config import SourceConfig
from core.kafka import producer_config
from core.producer import AsyncSender
from core.settings import GatewaySettings, KafkaSettings, VanSettings
from producers.gateway import hooks
from producers.gateway.auth import SOURCE_HEADER, authenticate, claimed_source
from producers.gateway.checks import (
    check_orgs,
    check_signature,
    parse_events,
    read_body,
    refusal_response,
    require_json,
)
from producers.gateway.intake import Intake, Refused
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.signing import ReplayGuard
from producers.gateway.sources import SourceBook
from producers.journal import Journal
from producers.tools import registry
from producers.tools.base import RouteContext
from schemas import AvroCodec

log = logging.getLogger(__name__)


def create_app(
    *,
    sources: Mapping[str, SourceConfig] | SourceBook,
    kafka: KafkaSettings,
    gateway: GatewaySettings,
    van: VanSettings | None = None,
    producer: AsyncSender | None = None,
    codec: AvroCodec | None = None,
    clock: Callable[[], float] = time.time,
    journal: Journal | None = None,
) -> Starlette:
    book = sources if isinstance(sources, SourceBook) else SourceBook.fixed(sources)
    metrics = GatewayMetrics()
    state: dict[str, AsyncSender] = {} if producer is None else {"producer": producer}
    intake = Intake(
        kafka=kafka,
        gateway=gateway,
        codec=codec or AvroCodec(),
        metrics=metrics,
        producer=lambda: state["producer"],
        clock=clock,
        journal=journal,
    )
    guard = ReplayGuard()
    routes = RouteContext(book, intake, gateway, van or VanSettings())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        own = producer is None
        state["producer"] = producer or AsyncSender(producer_config(kafka))
        watcher = asyncio.create_task(_watch_sources(book, gateway.reload_check_s))
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: book.refresh(force=True))
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            if own:
                state["producer"].close()
            if journal is not None:
                journal.close()

    def counted(
        route_name: str, handler: Callable[[Request], Any], respond: Callable[[Refused], Response]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response: Response = await handler(request)
            except Refused as refused:
                metrics.refused.labels(refused.error).inc()
                log.info(
                    "refused route=%s source=%s status=%d error=%s fields=%s",
                    route_name,
                    claimed_source(request),
                    refused.status,
                    refused.error,
                    ",".join(sorted({str(p.get("field", "")) for p in refused.problems})) or "-",
                )
                response = respond(refused)
            metrics.requests.labels(str(response.status_code)).inc()
            metrics.request_seconds.observe(time.perf_counter() - started)
            return response

        return endpoint

    async def post_events(request: Request) -> Response:
        source = authenticate(
            book, request.headers.get(SOURCE_HEADER), request.headers.get("authorization")
        )
        if source is None:
            raise Refused(
                401,
                "unauthenticated",
                "send X-Fieldstream-Source with your source id "
                "and Authorization: Bearer <secret> of that source",
            )
        if source.tool != registry.CANONICAL:
            own = registry.tool(source.tool).route
            raise Refused(
                403,
                "wrong_route",
                f"source {source.id!r} sends {source.tool} payloads: post them to "
                + (own(routes).path if own else f"/v1/hooks/{source.id}"),
            )
        require_json(request)
        async with intake.uploads.hold(source.id):
            body = await read_body(request, gateway.max_body_bytes, gateway.body_timeout_s)
            events = parse_events(body, gateway.max_batch_events)
            check_orgs(events, source)
            webhook_id = check_signature(request, body, source, guard)
            try:
                stored = await intake.store(source, source.tool, events, body)
            except Refused:
                if webhook_id:
                    guard.release(source.id, webhook_id)
                raise
        return JSONResponse(
            {"accepted": len(stored.event_ids), "event_ids": stored.event_ids}, status_code=202
        )

    async def healthz(_request: Request) -> Response:
        p = state.get("producer")
        ok = p is not None and p.healthy()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    async def metrics_page(_request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    hook = hooks.HookRoute(book, intake, guard, gateway)
    tool_routes = [
        Route(r.path, counted(t.name, r.handle, r.respond), methods=["POST"])
        for t in registry.tools().values()
        if t.route is not None
        for r in [t.route(routes)]
    ]
    return Starlette(
        routes=[
            Route("/v1/events", counted("events", post_events, refusal_response), methods=["POST"]),
            Route(
                "/v1/hooks/{source_id}",
                counted("hooks", hook.handle, refusal_response),
                methods=["POST"],
            ),
            *tool_routes,
            Route("/healthz", healthz),
            Route("/metrics", metrics_page),
        ],
        lifespan=lifespan,
    )


async def _watch_sources(book: SourceBook, every_s: float) -> None:
    """Reload the sources (and their codes files) when they change; never ends by itself."""
    while True:
        await asyncio.sleep(every_s)
        try:
            book.refresh()
        except Exception as exc:  # the next check tries again; the old sources stay
            log.error("checking the sources for edits failed: %s", type(exc).__name__)
