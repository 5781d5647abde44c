"""A stand-in for VAN's API, written from its published reference, for tests and benchmarks.

What it serves (docs.ngpvan.com; tests/data/van_api/SOURCES.md cites each rule):

- ``POST /v4/people/{vanId}/canvassResponses`` and ``/v4/people/{idType}:{id}/canvassResponses``:
  HTTP Basic (user = the application name, password = ``key|mode``, mode 0 or 1); the body
  rules (``resultCodeId`` or ``responses``, never both; ids valid in the committee's lookups;
  a phone for contact types 1 Phone and 37 SMS Text); 204 on success; VAN's error shape
  ``{"errors": [{"code", "text", "properties"}]}`` with 400, 401 and 404.
- The five lookups (``/v4/canvassResponses/resultCodes``, ``/contactTypes``, ``/inputTypes``,
  ``/v4/surveyQuestions``, ``/v4/activistCodes``, the last two paged with ``$top``/``$skip``
  and ``nextPageLink``) from a folder of saved responses.

Failure on demand, per request: :meth:`VanStandIn.script` queues :class:`Action` s that the
next canvass-response POSTs take in arrival order (429 with ``Retry-After``, any 5xx, a slow
answer, a dropped connection before or after the contact was recorded); ``rate_limit`` makes
it answer 429 itself past a per-key rate. Everything it accepted is in :attr:`accepted`, every
request and its answer in :attr:`log`.

Run it in a thread with :func:`running` (a context manager yielding the stand-in with its
``url``); :meth:`VanStandIn.stop` takes it down mid-test ("VAN is down").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

COMMITTEE = Path(__file__).resolve().parents[1] / "data" / "van_api" / "committee"
PHONE_CONTACT_TYPES = (1, 37)  # VAN requires a phone for these (parsons#525, VAN changelog)
PERSON_ID_TYPES = {"vanid", "statefileid", "dwid", "gwid"}
RESPONSE_TYPES = {"surveyresponse", "activistcode", "volunteeractivity"}


@dataclass(frozen=True)
class Action:
    """What the stand-in does with one canvass-response POST.

    kind ``ok``: follow the rules (204 or a 400); ``error``: answer ``status`` (429, 500,
    503...) without recording, with ``Retry-After: retry_after`` when given; ``slow``: record
    if valid, then answer after ``delay`` seconds; ``drop``: close the connection without a
    complete answer, having recorded the contact first when ``accept`` is true.
    """

    kind: Literal["ok", "error", "slow", "drop"] = "ok"
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0
    accept: bool = False


@dataclass(frozen=True)
class Accepted:
    """One canvass response VAN recorded."""

    person: str  # the path's person: "123" or "stateFileId:PA1"
    body: dict[str, Any]
    app_name: str
    mode: int
    at: float


@dataclass
class VanStandIn:
    """The VAN stand-in's state: credentials, lookups, script and what it recorded."""

    app_name: str = "fieldstream-test"
    api_keys: frozenset[str] = frozenset({"11111111-2222-3333-4444-555555555555"})
    lookups_dir: Path = COMMITTEE
    rate_limit: float | None = None  # requests per second per key; None: no limit
    page_size: int = 50
    accepted: list[Accepted] = field(default_factory=list)
    log: list[tuple[str, int]] = field(default_factory=list)  # (path, status answered)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Action] = deque()
        self._windows: dict[str, tuple[float, int]] = {}
        self.lookups = {
            name: json.loads((self.lookups_dir / f"{name}.json").read_text())
            for name in ("resultCodes", "contactTypes", "inputTypes")
        }
        self.lookups |= {
            name: _items(json.loads((self.lookups_dir / f"{name}.json").read_text()))
            for name in ("surveyQuestions", "activistCodes")
        }
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    # -- scripting and reading back ---------------------------------------------------------

    def script(self, *actions: Action) -> None:
        with self._lock:
            self._script.extend(actions)

    def pending_script(self) -> int:
        with self._lock:
            return len(self._script)

    def recorded(self) -> list[Accepted]:
        with self._lock:
            return list(self.accepted)

    def statuses(self) -> list[int]:
        with self._lock:
            return [s for p, s in self.log if p.endswith("/canvassResponses")]

    def _next_action(self) -> Action:
        with self._lock:
            return self._script.popleft() if self._script else Action()

    def _answered(self, path: str, status: int) -> None:
        with self._lock:
            self.log.append((path, status))

    # -- the app ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/v4/people/{person}/canvassResponses", self.canvass, methods=["POST"]),
            Route("/v4/canvassResponses/resultCodes", self.listing("resultCodes")),
            Route("/v4/canvassResponses/contactTypes", self.listing("contactTypes")),
            Route("/v4/canvassResponses/inputTypes", self.listing("inputTypes")),
            Route("/v4/surveyQuestions", self.paged("surveyQuestions")),
            Route("/v4/activistCodes", self.paged("activistCodes")),
        ]
        return Starlette(routes=routes)

    def listing(self, name: str) -> Any:
        async def handler(request: Request) -> Response:
            denied = self._auth(request)
            if denied is not None:
                return denied
            return JSONResponse(self.lookups[name])

        return handler

    def paged(self, name: str) -> Any:
        async def handler(request: Request) -> Response:
            denied = self._auth(request)
            if denied is not None:
                return denied
            top = min(int(request.query_params.get("$top", self.page_size)), 200)
            skip = int(request.query_params.get("$skip", 0))
            records = self.lookups[name]
            page = records[skip : skip + top]
            more = skip + top < len(records)
            next_link = (
                f"{self.url}{request.url.path}?$top={top}&$skip={skip + top}" if more else None
            )
            return JSONResponse({"items": page, "nextPageLink": next_link, "count": len(records)})

        return handler

    async def canvass(self, request: Request) -> Response:
        path = request.url.path
        denied = self._auth(request)
        if denied is not None:
            self._answered(path, denied.status_code)
            return denied
        key, mode = self._credentials(request) or ("", 0)
        limited = self._rate_limited(key)
        if limited is not None:
            self._answered(path, 429)
            return limited
        action = self._next_action()
        if action.kind == "error":
            self._answered(path, action.status)
            headers = {"Retry-After": _seconds(action.retry_after)} if action.retry_after else None
            code = "TOO_MANY_REQUESTS" if action.status == 429 else "INTERNAL_SERVER_ERROR"
            return _errors(action.status, code, "injected failure", headers=headers)
        raw = await request.body()
        person = request.path_params["person"]
        problem = self._person_problem(person) or self._body_problem(raw)
        if problem is not None:
            status, code, text, props = problem
            self._answered(path, status)
            return _errors(status, code, text, props)
        if action.kind != "drop" or action.accept:
            with self._lock:
                self.accepted.append(
                    Accepted(person, json.loads(raw), self.app_name, mode, time.time())
                )
        if action.kind == "drop":
            self._answered(path, 0)
            return _Dropped()
        if action.kind == "slow":
            await asyncio.sleep(action.delay)
        self._answered(path, 204)
        return Response(status_code=204)

    # -- rules ------------------------------------------------------------------------------

    def _credentials(self, request: Request) -> tuple[str, int] | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        key, bar, mode = password.rpartition("|")
        if user != self.app_name or not bar or mode not in ("0", "1") or key not in self.api_keys:
            return None
        return key, int(mode)

    def _auth(self, request: Request) -> Response | None:
        if self._credentials(request) is not None:
            return None
        return _errors(401, "UNAUTHORIZED", "Authorization has been denied for this request.")

    def _rate_limited(self, key: str) -> Response | None:
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= 1.0:
                start, count = now, 0
            if count + 1 > self.rate_limit:
                self._windows[key] = (start, count)
                wait = max(0.0, 1.0 - (now - start))
                return _errors(
                    429, "TOO_MANY_REQUESTS", "rate limit", headers={"Retry-After": _seconds(wait)}
                )
            self._windows[key] = (start, count + 1)
        return None

    def _person_problem(self, person: str) -> tuple[int, str, str, list[str]] | None:
        id_type, colon, ident = person.partition(":")
        if not colon:
            if not person.isdigit():
                return (404, "NOT_FOUND", "The vanId is not a whole number", ["vanId"])
            return None
        if id_type.lower() not in PERSON_ID_TYPES or not ident:
            return (400, "INVALID_PARAMETER", "Unknown personIdType", ["personIdType"])
        return None

    def _body_problem(self, raw: bytes) -> tuple[int, str, str, list[str]] | None:
        try:
            body = json.loads(raw)
        except ValueError:
            return (400, "INVALID_PARAMETER", "The request body is not JSON", [])
        if not isinstance(body, dict):
            return (400, "INVALID_PARAMETER", "The request body must be an object", [])
        return _rules(body, self.lookups)


def _rules(body: dict[str, Any], lookups: dict[str, Any]) -> tuple[int, str, str, list[str]] | None:
    """The first canvass-response rule ``body`` breaks, as (status, code, text, properties)."""

    def bad(text: str, *props: str) -> tuple[int, str, str, list[str]]:
        return (400, "INVALID_PARAMETER", text, list(props))

    context = body.get("canvassContext")
    if context is not None and not isinstance(context, dict):
        return bad("canvassContext must be an object", "canvassContext")
    context = context or {}
    responses = body.get("responses")
    if responses is not None and not isinstance(responses, list):
        return bad("responses must be an array", "responses")
    result = body.get("resultCodeId")
    if result is not None and responses:
        return bad("'resultCodeId' must be null when responses are specified", "resultCodeId")
    if result is None and not responses:
        return bad("Either resultCodeId or responses must be specified", "resultCodeId")
    ids = {
        "result": {r["resultCodeId"] for r in lookups["resultCodes"]},
        "contact": {r["contactTypeId"] for r in lookups["contactTypes"]},
        "input": {r["inputTypeId"] for r in lookups["inputTypes"]},
        "activist": {r["activistCodeId"] for r in lookups["activistCodes"]},
    }
    if result is not None and result not in ids["result"]:
        return bad(f"resultCodeId {result!r} is not a valid Result Code", "resultCodeId")
    contact_type = context.get("contactTypeId")
    if contact_type is not None and contact_type not in ids["contact"]:
        return bad("Invalid contactTypeId", "canvassContext.contactTypeId")
    input_type = context.get("inputTypeId")
    if input_type is not None and input_type not in ids["input"]:
        return bad("Invalid inputTypeId", "canvassContext.inputTypeId")
    if contact_type in PHONE_CONTACT_TYPES and not (
        context.get("phoneId") or (context.get("phone") or {}).get("phoneNumber")
    ):
        return bad("A phone is required for this contact type", "canvassContext.phone")
    date = context.get("dateCanvassed")
    if date is not None:
        try:
            dt.datetime.fromisoformat(str(date).replace("Z", "+00:00"))
        except ValueError:
            return bad("dateCanvassed must be an ISO 8601 date", "canvassContext.dateCanvassed")
    questions = {q["surveyQuestionId"]: q for q in lookups["surveyQuestions"]}
    for i, item in enumerate(responses or []):
        where = f"responses[{i}]"
        kind = str(item.get("type", "")).lower() if isinstance(item, dict) else ""
        if kind not in RESPONSE_TYPES:
            return bad("Unknown response type", f"{where}.type")
        if kind == "surveyresponse":
            question = questions.get(item.get("surveyQuestionId"))
            if question is None:
                return bad("Invalid surveyQuestionId", f"{where}.surveyQuestionId")
            answers = {r["surveyResponseId"] for r in question["responses"]}
            if item.get("surveyResponseId") not in answers:
                return bad("Invalid surveyResponseId", f"{where}.surveyResponseId")
        elif kind == "activistcode" and item.get("activistCodeId") not in ids["activist"]:
            return bad("Invalid activistCodeId", f"{where}.activistCodeId")
        if kind != "surveyresponse" and str(item.get("action", "Apply")).lower() not in (
            "apply",
            "remove",
        ):
            return bad("action must be Apply or Remove", f"{where}.action")
    return None


def _items(data: Any) -> list[dict[str, Any]]:
    return list(data["items"]) if isinstance(data, dict) else list(data)


def _seconds(value: float | None) -> str:
    return str(max(1, round(value or 0)))


def _errors(
    status: int,
    code: str,
    text: str,
    properties: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "text": text}
    if properties:
        error["properties"] = properties
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


class _Dropped(Response):
    """Starts an answer promising a body, then fails: the server closes the connection."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
        )
        raise ConnectionAbortedError("dropped on purpose by the VAN stand-in")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(stand_in: VanStandIn, port: int | None = None) -> VanStandIn:
    """Serve ``stand_in`` on 127.0.0.1 in a daemon thread; returns it with ``url`` set."""
    port = port or free_port()
    config = uvicorn.Config(stand_in.app(), host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="van-stand-in", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the VAN stand-in did not start")
        time.sleep(0.01)
    stand_in.server, stand_in.thread, stand_in.url = server, thread, f"http://127.0.0.1:{port}"
    return stand_in


def stop(stand_in: VanStandIn) -> None:
    """Take the stand-in down (its port then refuses connections)."""
    if stand_in.server is not None and stand_in.thread is not None:
        stand_in.server.should_exit = True
        stand_in.thread.join(10)
        stand_in.server = stand_in.thread = None


@contextmanager
def running(stand_in: VanStandIn | None = None, port: int | None = None) -> Iterator[VanStandIn]:
    stand_in = start(stand_in or VanStandIn(), port)
    try:
        yield stand_in
    finally:
        stop(stand_in)


def basic_auth(app_name: str, key: str, mode: int) -> str:
    """The Authorization header value a VAN client sends."""
    token = base64.b64encode(f"{app_name}:{key}|{mode}".encode()).decode()
    return f"Basic {token}"
