"""One canvass-response POST to VAN, and what its answer means (for the write-back and the
VAN route's pass-through, so on the floor).

VAN authenticates with HTTP Basic: user = the application name, password = ``key|mode``
(mode 0 My Voters, 1 My Campaign). Success is 204; errors are ``{"errors": [{code, text,
properties}]}`` (docs.ngpvan.com; tests/data/van_api/SOURCES.md). The answer is read into an
:class:`Answer` whose ``kind`` is what the ledger does next:

- ``posted``: 2xx;
- ``rejected``: another 4xx (VAN's first error code and text kept): posting it again would be
  refused again;
- ``retry``: 429 or 5xx (``Retry-After`` honoured), or the connection never opened (the
  request certainly did not reach VAN);
- ``uncertain``: a timeout or dropped connection after the request was sent: VAN may have it.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson
from pydantic import SecretStr

DEFAULT_BASE_URL = "https://api.securevan.com/v4"
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class Answer:
    kind: Literal["posted", "rejected", "retry", "uncertain"]
    status: int | None = None  # VAN's HTTP status; None when there was no answer
    error_code: str | None = None
    error_text: str | None = None
    retry_after: float | None = None  # seconds VAN asked us to wait
    content: bytes = b""  # VAN's answer body, as VAN sent it (the pass-through returns it)


def basic_auth(app_name: str, api_key: SecretStr, mode: int) -> str:
    """The Authorization header VAN expects (never logged: it carries the key)."""
    if mode not in (0, 1):
        raise ValueError("VAN database mode is 0 (My Voters) or 1 (My Campaign)")
    raw = f"{app_name}:{api_key.get_secret_value()}|{mode}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def canvass_path(person: str) -> str:
    """``people/{vanId}/canvassResponses`` or ``people/{idType}:{id}/canvassResponses``."""
    id_type, colon, ident = person.partition(":")
    if colon:
        return f"/people/{quote(id_type, safe='')}:{quote(ident, safe='')}/canvassResponses"
    return f"/people/{quote(person, safe='')}/canvassResponses"


async def post_canvass_response(
    client: httpx.AsyncClient,
    base_url: str,
    auth: str,
    person: str,
    body: bytes | dict[str, Any],
) -> Answer:
    """POST one body; every outcome (even no answer at all) comes back as an :class:`Answer`."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    url = base_url.rstrip("/") + canvass_path(person)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    try:
        response = await client.post(url, content=content, headers=headers)
    except NOT_SENT as exc:
        return Answer("retry", error_code="connect_failed", error_text=type(exc).__name__)
    except httpx.TimeoutException as exc:
        return Answer("uncertain", error_code="timeout", error_text=type(exc).__name__)
    except httpx.TransportError as exc:
        return Answer("uncertain", error_code="connection_lost", error_text=type(exc).__name__)
    return read_answer(response.status_code, response.headers, response.content)


def read_answer(status: int, headers: httpx.Headers | dict[str, str], content: bytes) -> Answer:
    """VAN's HTTP answer -> what the ledger does with the contact."""
    if 200 <= status < 300:
        return Answer("posted", status, content=content)
    code, text = van_error(content)
    if status == 429 or status >= 500:
        wait = retry_after(headers.get("retry-after") or headers.get("Retry-After"))
        return Answer("retry", status, code or f"HTTP_{status}", text, wait, content)
    return Answer("rejected", status, code or f"HTTP_{status}", text, content=content)


def van_error(content: bytes) -> tuple[str | None, str | None]:
    """The first error's ``code`` and ``text`` from VAN's error shape, if the body has one."""
    try:
        errors = orjson.loads(content).get("errors") if content else None
    except (orjson.JSONDecodeError, AttributeError):
        return None, None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    first = errors[0]
    code, text = first.get("code"), first.get("text")
    return (str(code) if code else None), (str(text)[:500] if text else None)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))
