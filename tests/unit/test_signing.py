"""Standard Webhooks signatures: valid, wrong secret, stale, tampered, replayed, rotated."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from standardwebhooks.webhooks import Webhook

from producers.gateway.signing import ReplayGuard, verify_standard
from producers.tools.base import SignatureError

OLD = "whsec_" + base64.b64encode(b"old-key-of-the-source-32-bytes!!").decode()
NEW = "whsec_" + base64.b64encode(b"new-key-of-the-source-32-bytes!!").decode()
BODY = b'{"source_system":"x","source_event_id":"1"}'


def signed(
    secret: str, body: bytes = BODY, msg_id: str = "msg_1", age_s: float = 0
) -> dict[str, str]:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode()),
    }


def test_a_valid_signature_returns_the_webhook_id() -> None:
    assert verify_standard(signed(NEW), BODY, [NEW]) == "msg_1"


def test_headers_are_case_insensitive() -> None:
    headers = {k.upper(): v for k, v in signed(NEW).items()}
    assert verify_standard(headers, BODY, [NEW]) == "msg_1"


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_standard(signed(OLD), BODY, [NEW])


def test_tampered_body_is_refused() -> None:
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_standard(signed(NEW), BODY.replace(b"1", b"2"), [NEW])


@pytest.mark.parametrize("age_s", [301, -301, 3600])
def test_timestamps_outside_five_minutes_are_refused(age_s: float) -> None:
    with pytest.raises(SignatureError, match="timestamp"):
        verify_standard(signed(NEW, age_s=age_s), BODY, [NEW])


def test_timestamps_within_five_minutes_pass() -> None:
    assert verify_standard(signed(NEW, age_s=280), BODY, [NEW]) == "msg_1"


def test_rotation_accepts_either_secret_and_a_signature_list() -> None:
    assert verify_standard(signed(OLD), BODY, [OLD, NEW]) == "msg_1"
    assert verify_standard(signed(NEW), BODY, [OLD, NEW]) == "msg_1"
    both = signed(OLD)
    both["webhook-signature"] += " " + signed(NEW)["webhook-signature"]
    assert verify_standard(both, BODY, [NEW]) == "msg_1"


def test_missing_headers_and_malformed_signatures_are_refused() -> None:
    headers = signed(NEW)
    del headers["webhook-timestamp"]
    with pytest.raises(SignatureError, match="webhook-timestamp"):
        verify_standard(headers, BODY, [NEW])
    bad = signed(NEW) | {"webhook-signature": "garbage"}
    with pytest.raises(SignatureError):
        verify_standard(bad, BODY, [NEW])
    with pytest.raises(SignatureError, match="no signing_secrets"):
        verify_standard(signed(NEW), BODY, [])


def test_a_replayed_id_is_refused_until_it_could_no_longer_pass() -> None:
    now = [1000.0]
    guard = ReplayGuard(window_s=600, clock=lambda: now[0])
    guard.reserve("src", "msg_1")
    with pytest.raises(SignatureError, match="replay"):
        guard.reserve("src", "msg_1")
    guard.reserve("other-src", "msg_1")  # ids are per source
    now[0] += 601
    guard.reserve("src", "msg_1")


def test_a_released_id_passes_again_so_a_sender_can_retry_a_failure() -> None:
    guard = ReplayGuard()
    guard.reserve("src", "msg_1")
    guard.release("src", "msg_1")
    guard.reserve("src", "msg_1")


def test_the_guard_is_bounded() -> None:
    guard = ReplayGuard(max_ids=3)
    for i in range(10):
        guard.reserve("src", f"m{i}")
    assert len(guard._seen) <= 3
