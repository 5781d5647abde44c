"""Tool-specific webhook signature checks (Standard Webhooks lives in producers/gateway/signing).

Each ``verify_<tool>(headers, body, secrets, now)`` checks one tool's own scheme on the raw
body bytes, accepts any of several secrets (rotation), compares with
:func:`hmac.compare_digest`, and raises :class:`SignatureError` with a reason that names no
secret and no body content. ``producers.tools.registry`` picks every ``verify_*`` up by name.

Hustle (``verify_hustle``). Documented, in Hustle's Public API v3 OpenAPI
(https://api.hustle.com/v3/docs/swagger.json, archived as api-evangelist/hustle
``openapi/_original/hustle-openapi-original.json``): a webhook registration carries
``secretForHMAC``, "Secret key used for HMAC signature verification of webhook events", set by
the subscriber and never returned. Not documented there (the spec's ``webhooks`` section is
empty and the page it points to, https://api.hustle.com/docs/webhooks, could not be read):
the header name, the digest, the encoding and what is signed. Assumed, and to be confirmed
with ``POST /webhook_registrations/mock_event`` against the gateway (tests/data/hustle/SOURCES.md):

- HMAC-SHA256 with the secret's UTF-8 bytes as key, over the raw request body;
- sent in a ``hustle-signature`` header (the spelling of the one Hustle header the spec
  names, ``hustle-webhook-confirmation``) or ``x-hustle-signature``;
- hex (either case) or base64, optionally prefixed ``sha256=``;
- no timestamp: nothing to check for staleness, so ``now`` is unused and replays are stopped
  by the event-id dedupe downstream (a retried body gives the same event ids).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from producers.tools.base import SignatureError

HUSTLE_SIGNATURE_HEADERS = ("hustle-signature", "x-hustle-signature")
_MAX_SIGNATURE_CHARS = 512


def verify_hustle(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float
) -> None:
    """Raise SignatureError unless ``body`` carries a Hustle HMAC-SHA256 from one of ``secrets``.

    ``now`` is part of the common verifier signature; Hustle's scheme has no timestamp.
    """
    del now
    given = _header(headers, HUSTLE_SIGNATURE_HEADERS)
    if given is None:
        raise SignatureError(
            f"no Hustle signature: expected a {HUSTLE_SIGNATURE_HEADERS[0]} header "
            "(HMAC-SHA256 of the body with the registration's secretForHMAC)"
        )
    if not secrets:
        raise SignatureError("the source has no signing secret to check the Hustle signature")
    signature = given.strip()
    if signature[:7].lower() == "sha256=":
        signature = signature[7:].strip()
    if not signature or len(signature) > _MAX_SIGNATURE_CHARS:
        raise SignatureError("the Hustle signature header is empty or malformed")
    as_hex = signature.lower().encode()
    as_b64 = signature.encode()
    matched = False
    for secret in secrets:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        # compare against every accepted form and secret, without stopping early
        matched |= hmac.compare_digest(as_hex, digest.hex().encode())
        matched |= hmac.compare_digest(as_b64, base64.b64encode(digest))
    if not matched:
        raise SignatureError(
            "the Hustle signature does not match the body under any of the source's secrets"
        )


def _header(headers: Mapping[str, str], names: Sequence[str]) -> str | None:
    """The first of ``names`` present in ``headers``, matched case-insensitively."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in names:
        value = lowered.get(name)
        if value is not None:
            return value
    return None
