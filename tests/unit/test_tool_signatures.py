"""Tool-specific webhook signatures: valid, wrong secret, tampered body, rotated secret.

Hustle's scheme (assumed; tests/data/hustle/SOURCES.md): HMAC-SHA256 of the raw body with the
registration's secretForHMAC, hex or base64, in a hustle-signature header. It has no
timestamp, so there is no staleness to test: ``now`` must not matter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from producers.tools import registry
from producers.tools.base import SignatureError
from producers.tools.hustle import signature as signatures

BODY = (Path(__file__).parent.parent / "data" / "hustle" / "message_sent.json").read_bytes()
SECRET = "whsec-hustle-current"
OLD = "whsec-hustle-previous"
NOW = 1_790_000_000.0


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_valid_signature_passes() -> None:
    signatures.verify_hustle({"hustle-signature": sign(BODY, SECRET)}, BODY, [SECRET], NOW)


def test_header_name_is_case_insensitive_and_x_prefix_accepted() -> None:
    signed = sign(BODY, SECRET)
    signatures.verify_hustle({"Hustle-Signature": signed}, BODY, [SECRET], NOW)
    signatures.verify_hustle({"X-Hustle-Signature": signed}, BODY, [SECRET], NOW)


@pytest.mark.parametrize(
    "encode",
    [
        lambda d: d.hex().upper(),
        lambda d: base64.b64encode(d).decode(),
        lambda d: "sha256=" + d.hex(),
    ],
)
def test_hex_upper_base64_and_prefixed_forms_pass(encode: object) -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    value = encode(digest)  # type: ignore[operator]
    signatures.verify_hustle({"hustle-signature": value}, BODY, [SECRET], NOW)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        signatures.verify_hustle(
            {"hustle-signature": sign(BODY, "someone-else")}, BODY, [SECRET], NOW
        )


def test_tampered_body_is_refused() -> None:
    tampered = BODY.replace(b'"sent"', b'"failed"')
    assert tampered != BODY
    with pytest.raises(SignatureError, match="does not match"):
        signatures.verify_hustle({"hustle-signature": sign(BODY, SECRET)}, tampered, [SECRET], NOW)


def test_rotated_secret_second_of_two_passes() -> None:
    signed = sign(BODY, OLD)
    signatures.verify_hustle({"hustle-signature": signed}, BODY, [SECRET, OLD], NOW)
    with pytest.raises(SignatureError):
        signatures.verify_hustle({"hustle-signature": signed}, BODY, [SECRET], NOW)


def test_no_timestamp_in_the_scheme_so_now_does_not_matter() -> None:
    headers = {"hustle-signature": sign(BODY, SECRET)}
    for now in (0.0, NOW, NOW + 10 * 365 * 86400):
        signatures.verify_hustle(headers, BODY, [SECRET], now)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"hustle-signature": ""},
        {"hustle-signature": "sha256="},
        {"hustle-signature": "x" * 600},
    ],
)
def test_missing_or_malformed_header_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        signatures.verify_hustle(headers, BODY, [SECRET], NOW)


def test_no_secrets_is_refused() -> None:
    with pytest.raises(SignatureError, match="no signing secret"):
        signatures.verify_hustle({"hustle-signature": sign(BODY, SECRET)}, BODY, [], NOW)


def test_reasons_carry_no_secret_and_no_signature() -> None:
    given = sign(BODY, "someone-else")
    with pytest.raises(SignatureError) as caught:
        signatures.verify_hustle({"hustle-signature": given}, BODY, [SECRET], NOW)
    assert SECRET not in str(caught.value)
    assert given not in str(caught.value)


def test_the_registry_finds_the_hustle_verifier() -> None:
    assert registry.tool("hustle").verify is signatures.verify_hustle
