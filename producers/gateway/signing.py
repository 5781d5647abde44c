"""Standard Webhooks signatures (https://www.standardwebhooks.com), with rotation and replays.

A signed request carries ``webhook-id``, ``webhook-timestamp`` (epoch seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, several
space-separated during a key rotation). The check itself is the ``standardwebhooks`` package
(the reference implementation: 5-minute tolerance either way, constant-time compare over the
raw body); this module adds what it leaves to the receiver:

- several secrets per source at once, so a sender can rotate keys without downtime;
- replays: a webhook-id accepted once is refused for as long as its timestamp could still
  pass (the tolerance, both ways). A sender's retry after a failure keeps the same id and is
  accepted, because an id is only remembered once the request was stored.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from producers.tools.base import SignatureError

TOLERANCE_S = 300.0


class ReplayError(SignatureError):
    """A webhook-id already received (and stored) from this source."""


HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verify_standard(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> str:
    """The request's webhook-id when one of ``secrets`` signed it, else a SignatureError."""
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in HEADERS if not lowered.get(h)]
    if missing:
        raise SignatureError(f"missing Standard Webhooks headers: {', '.join(missing)}")
    if not secrets:
        raise SignatureError("this source has no signing_secrets configured")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise SignatureError("the body is not UTF-8") from None
    reason = "no signature matches any of this source's secrets"
    for secret in secrets:
        try:
            Webhook(secret).verify(text, lowered, json_parse=False)
        except WebhookVerificationError as exc:
            if "timestamp" in str(exc).lower() or "Invalid Signature Headers" in str(exc):
                raise SignatureError(f"webhook-timestamp refused: {exc}") from None
            continue
        except (ValueError, TypeError):  # a malformed signature list or secret
            raise SignatureError("webhook-signature is malformed") from None
        return lowered["webhook-id"]
    raise SignatureError(reason)


class ReplayGuard:
    """Webhook ids seen recently, per source; bounded in memory.

    ``reserve`` before storing, ``release`` if storing failed (so the sender's retry passes),
    nothing more after success: the id stays until it could no longer pass the timestamp check.
    One guard per gateway process; with several gateway processes a replay that lands on
    another process is still harmless downstream, where event ids are deduplicated.
    """

    def __init__(
        self,
        window_s: float = 2 * TOLERANCE_S,
        max_ids: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._window, self._max, self._clock = window_s, max_ids, clock

    def reserve(self, source_id: str, webhook_id: str) -> None:
        now = self._clock()
        self._expire(now)
        key = (source_id, webhook_id)
        if key in self._seen:
            raise ReplayError(f"webhook-id {webhook_id[:80]!r} was already received (replay)")
        self._seen[key] = now

    def release(self, source_id: str, webhook_id: str) -> None:
        self._seen.pop((source_id, webhook_id), None)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self._window and len(self._seen) < self._max:
                break
            del self._seen[key]
