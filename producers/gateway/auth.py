"""Sender authentication: a per-source secret, bound to one org, several secrets for rotation."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from starlette.requests import Request

from core.config import SourceConfig

SOURCE_HEADER = "x-fieldstream-source"


def authenticate(
    sources: Mapping[str, SourceConfig], source_id: str | None, authorization: str | None
) -> SourceConfig | None:
    """The source whose secret matches the bearer token, or None.

    Unknown source and wrong secret are not told apart (to the caller or in timing more than
    the dict lookup), and every configured secret is compared in constant time.
    """
    if not source_id or not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    source = sources.get(source_id)
    if source is None:
        return None
    return source if secret_matches(source, token.strip()) else None


def secret_matches(source: SourceConfig, given: str) -> bool:
    """Whether ``given`` is one of the source's secrets, comparing every one in constant time
    (so the time taken does not tell which, or how much of one, matched)."""
    ok = False
    for secret in source.secrets:
        ok |= hmac.compare_digest(given.encode(), secret.get_secret_value().encode())
    return bool(given) and ok


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(user, password) of an HTTP Basic ``Authorization`` header, or None."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


def claimed_source(request: Request) -> str:
    """The source a request says it comes from, fit for a log line (it is sender-controlled,
    so never trusted, only logged): the X-Fieldstream-Source header, the hook path's source
    id, or the HTTP Basic user name (VAN's application name); "-" when it names none."""
    claimed = request.headers.get(SOURCE_HEADER) or request.path_params.get("source_id")
    if not claimed:
        basic = basic_credentials(request.headers.get("authorization", ""))
        claimed = basic[0] if basic else None
    return (str(claimed) if claimed else "-")[:64].encode("ascii", "replace").decode()
