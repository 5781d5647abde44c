"""Per-source secrets, bound to an org, several at once for rotation."""

from __future__ import annotations

from core.config import SourceConfig
from producers.gateway.auth import authenticate

SOURCES = {
    "tool": SourceConfig.model_validate(
        {"id": "tool", "org_id": "org-a", "secrets": ["old-secret", "new-secret"]}
    )
}


def test_both_secrets_of_a_rotation_are_accepted() -> None:
    for secret in ("old-secret", "new-secret"):
        source = authenticate(SOURCES, "tool", f"Bearer {secret}")
        assert source is not None and source.org_id == "org-a"


def test_wrong_secret_unknown_source_and_bad_headers_are_refused() -> None:
    assert authenticate(SOURCES, "tool", "Bearer nope") is None
    assert authenticate(SOURCES, "other", "Bearer new-secret") is None
    assert authenticate(SOURCES, None, "Bearer new-secret") is None
    assert authenticate(SOURCES, "tool", None) is None
    assert authenticate(SOURCES, "tool", "Basic new-secret") is None
    assert authenticate(SOURCES, "tool", "Bearer ") is None
