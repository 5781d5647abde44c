"""Who may use the query door: analyst tokens (one org each) and admin tokens.

A token is 32 random bytes (URL-safe base64, prefixed ``fsq_``) and is kept at rest only as
its SHA-256: for a random secret of that length a fast hash is enough (there is nothing to
guess), and a stolen file opens nothing. The tokens file (``FIELDSTREAM_QUERY__TOKENS_FILE``,
written 0600 by ``fieldstream query-token``)::

    tokens:
      - id: ana-demo        # a name, for logs and for revoking it
        role: analyst       # analyst: reads its org's rows; admin: every org, and inserts
        org: demo-org       # analysts only
        sha256: 3f0c...     # of the token, which is shown once, when it is added

fieldstream's own commands (sql, board, report, the loaders) present the admin credential of
the settings, ``FIELDSTREAM_QUERY__ADMIN_TOKEN``; when that is empty the sink creates one in
``query.admin_token_file`` (0600, under the data directory) and the commands read it there.
The sink notices a changed tokens file at the next request (no restart).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from core.config import read_yaml, write_private
from core.errors import ConfigError
from core.settings import QuerySettings

log = logging.getLogger(__name__)

PREFIX = "fsq_"
_NAME = r"^[A-Za-z0-9_-]{1,64}$"
_BEARER = re.compile(r"^Bearer ([A-Za-z0-9_-]{1,200})$")

Role = Literal["analyst", "admin"]


class TokenEntry(BaseModel):
    id: str = Field(pattern=_NAME)
    role: Role
    org: str | None = Field(default=None, pattern=_NAME)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _org_for_analysts(self) -> TokenEntry:
        if self.role == "analyst" and not self.org:
            raise ValueError("an analyst token names its org")
        if self.role == "admin" and self.org:
            raise ValueError("an admin token reads every org: give it no org")
        return self


class TokensFile(BaseModel):
    tokens: list[TokenEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Principal:
    """Who sent a request: an admin (org None) or an analyst of one org."""

    id: str
    role: Role
    org: str | None = None


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_tokens(path: Path) -> list[TokenEntry]:
    """The tokens file's entries ([] when it does not exist); ConfigError naming the fields."""
    if not path.exists():
        return []
    try:
        parsed = TokensFile.model_validate(read_yaml(path, "query tokens", echo_errors=False))
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise ConfigError(f"query tokens file {path} has bad entries at: {fields}") from None
    ids = [t.id for t in parsed.tokens]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"query tokens file {path} lists token ids twice: {dupes}")
    return parsed.tokens


def save_tokens(path: Path, entries: list[TokenEntry]) -> None:
    data = TokensFile(tokens=entries).model_dump(mode="json", exclude_none=True)
    write_private(path, yaml.safe_dump(data, sort_keys=False))


def add_token(path: Path, token_id: str, role: Role, org: str | None) -> str:
    """Add a token to the file; returns the token itself (shown once, never stored)."""
    entries = load_tokens(path)
    if any(t.id == token_id for t in entries):
        raise ConfigError(f"token id {token_id!r} exists: revoke it first or pick another id")
    token = new_token()
    try:
        entry = TokenEntry(id=token_id, role=role, org=org, sha256=digest(token))
    except ValidationError as exc:
        raise ConfigError(f"token {token_id!r}: {exc.errors()[0]['msg']}") from None
    save_tokens(path, [*entries, entry])
    return token


def revoke_token(path: Path, token_id: str) -> bool:
    """Remove a token; False if the file has no such id."""
    entries = load_tokens(path)
    kept = [t for t in entries if t.id != token_id]
    if len(kept) == len(entries):
        return False
    save_tokens(path, kept)
    return True


def admin_token(query: QuerySettings, *, create: bool = False) -> str:
    """The admin credential: the setting, else the admin token file ('' when neither exists
    and ``create`` is false; with ``create`` the file is made, 0600)."""
    configured = query.admin_token.get_secret_value().strip()
    if configured:
        return configured
    path = query.admin_token_file
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        return ""
    token = new_token()
    write_private(path, token + "\n")
    return token


class Credentials:
    """Checks a request's ``Authorization: Bearer <token>``, reloading a changed tokens file."""

    def __init__(self, tokens_file: Path, admin: str) -> None:
        if not admin:
            raise ConfigError("the query door needs an admin token (query.admin_token)")
        self.tokens_file = tokens_file
        self._admin = digest(admin)
        self._stamp: int | None = None
        self._by_digest: dict[str, TokenEntry] = {}
        self._reload()

    @classmethod
    def from_settings(cls, query: QuerySettings) -> Credentials:
        return cls(query.tokens_file, admin_token(query, create=True))

    def _reload(self) -> None:
        try:
            stamp = self.tokens_file.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = 0
        if stamp == self._stamp:
            return
        try:
            entries = load_tokens(self.tokens_file)
        except ConfigError as exc:
            if self._stamp is None:
                raise
            log.error("%s; the tokens loaded before stay in force", exc)
            return
        self._by_digest = {t.sha256: t for t in entries}
        self._stamp = stamp

    def authenticate(self, header: str | None) -> Principal | None:
        """The principal a header names, or None (missing, malformed or unknown token)."""
        match = _BEARER.match(header or "")
        if match is None:
            return None
        seen = digest(match.group(1))
        if secrets.compare_digest(seen, self._admin):
            return Principal("admin", "admin")
        self._reload()
        entry = self._by_digest.get(seen)
        if entry is None:
            return None
        return Principal(entry.id, entry.role, entry.org)


def admin_header(query: QuerySettings) -> dict[str, str]:
    """The Authorization header with the admin credential (for scripts and tests)."""
    return {"authorization": f"Bearer {admin_token(query)}"}
