"""Sender authentication: a per-source secret, bound to one org, several secrets for rotation."""

from __future__ import annotations

import hmac

from core.config import SourceConfig

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
    return source if secret_matches(source, token.strip()) else None


def secret_matches(source: SourceConfig, given: str) -> bool:
    """Whether ``given`` is one of the source's secrets, comparing every one in constant time
    (so the time taken does not tell which, or how much of one, matched)."""
    ok = False
    for secret in source.secrets:
        ok |= hmac.compare_digest(given.encode(), secret.get_secret_value().encode())
    return bool(given) and ok
