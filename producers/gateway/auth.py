"""Sender authentication: a per-source secret, bound to one org, several secrets for rotation."""

from __future__ import annotations

import hmac

from fieldstream.config import SourceConfig

SOURCE_HEADER = "x-fieldstream-source"


def authenticate(
    sources: dict[str, SourceConfig], source_id: str | None, authorization: str | None
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
    given = token.strip().encode()
    ok = False
    for secret in source.secrets:
        ok |= hmac.compare_digest(given, secret.get_secret_value().encode())
    return source if ok else None
