"""Blind identifiers: keyed pseudonyms for people, canvassers and events.

Why keyed (HMAC-SHA256) and not a plain hash: voter ids and VAN ids come from small, public or
guessable spaces, so anyone can hash every candidate and read a plain hash backwards. Without
the exchange's key that dictionary attack finds nothing; with it, the exchange (and only it)
lines up two partners' contacts with the same voter, because the same normalised id under the
same key gives the same pseudonym whichever partner sent it.

Why domains: the HMAC input starts with a domain tag (voter, van, canvasser, event), so a
canvasser's pseudonym can never equal a voter's even when the raw ids collide, and partners
cannot join the two. Canvasser ids are also bound to their org (two orgs' "c-17" are two
people).

Why rotation: a key is valid for a period (keys.yaml below). Each record is pseudonymised with
the key valid when the contact *occurred*, so re-sharing the same event (at-least-once
delivery, a replay) gives byte-identical output, and the record names the key id. A leaked key
exposes one period only; pseudonyms do not line up across periods (the exchange holds every key
and can compute a voter's pseudonym under each).

There is deliberately no pseudonym for phone numbers or emails: they never leave.

keys.yaml (holds secrets: keep it out of version control, readable by the exchange only)::

    keys:
      - id: k2026a                   # recorded beside every pseudonym
        secret: "..."                # >= 32 characters; make one with new_secret()
        valid_from: 2026-01-01       # dates are midnight UTC
        valid_until: 2026-07-01      # exclusive; omit on the newest key
      - id: k2026b
        secret: "..."
        valid_from: 2026-07-01
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import hmac
import itertools
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from core.config import check_private, read_yaml
from core.errors import ConfigError, InputError
from streams.exchange.agreements import aware_utc, midnight_utc

_PREFIX = b"fieldstream/v1/"
MIN_SECRET_CHARS = 32


class Domain(StrEnum):
    """What a pseudonym stands for; part of the HMAC input, so domains never collide."""

    voter = "voter"
    van = "van"
    canvasser = "canvasser"
    event = "event"


class PersonIdKind(StrEnum):
    """Which of the person's ids a shared person pseudonym was made from."""

    state_voter_id = "state_voter_id"
    van_id = "van_id"


class PseudonymKey(BaseModel):
    """One key of the exchange, valid for [valid_from, valid_until)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    secret: SecretStr
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"a key secret needs at least {MIN_SECRET_CHARS} characters")
        return value

    @field_validator("valid_from", "valid_until", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return midnight_utc(value)

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else aware_utc(value)

    def covers(self, when: dt.datetime) -> bool:
        return self.valid_from <= when and (self.valid_until is None or when < self.valid_until)


class KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[PseudonymKey] = Field(min_length=1)


@dataclass(frozen=True)
class KeyRing:
    """The exchange's keys, sorted by start, periods not overlapping (checked)."""

    keys: tuple[PseudonymKey, ...]
    _starts: tuple[dt.datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.keys, key=lambda k: k.valid_from))
        object.__setattr__(self, "keys", ordered)
        object.__setattr__(self, "_starts", tuple(k.valid_from for k in ordered))
        ids = [k.id for k in ordered]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ConfigError(f"key ids listed twice: {twice}")
        for k in ordered:
            if k.valid_until is not None and k.valid_until <= k.valid_from:
                raise ConfigError(f"key {k.id}: valid_until must be after valid_from")
        for a, b in itertools.pairwise(ordered):
            if a.valid_until is None or a.valid_until > b.valid_from:
                raise ConfigError(
                    f"keys {a.id} and {b.id} overlap: give {a.id} a valid_until no later than "
                    f"{b.id}'s valid_from"
                )

    def key_at(self, when: dt.datetime) -> PseudonymKey:
        """The key valid at ``when``; ConfigError (naming the time, no data) if none is."""
        i = bisect.bisect_right(self._starts, when) - 1
        if i >= 0 and self.keys[i].covers(when):
            return self.keys[i]
        raise ConfigError(f"no pseudonym key is valid at {when.isoformat()}: add one to the keys")

    def by_id(self, key_id: str) -> PseudonymKey | None:
        return next((k for k in self.keys if k.id == key_id), None)


def parse_keys(data: object, path: Path = Path("<keys>")) -> KeyRing:
    try:
        parsed = KeysFile.model_validate(data)
    except ValidationError as exc:
        # name the keys only: pydantic's full message could echo a secret
        problems = "; ".join(
            ".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"keys file {path}: {problems}") from None
    try:
        return KeyRing(tuple(parsed.keys))
    except ConfigError as exc:
        raise ConfigError(f"keys file {path}: {exc}") from None


def load_keys(path: Path) -> KeyRing:
    """Read keys.yaml (see the module docstring); a YAML error never echoes the secrets, and a
    file other users can read is refused, as sources.yaml is."""
    if path.exists():
        check_private(path, "keys")
    return parse_keys(read_yaml(path, "keys", echo_errors=False), path)


def new_secret() -> str:
    """A fresh random key secret (256 bits, URL-safe text) for keys.yaml."""
    return secrets.token_urlsafe(32)


def normalise_voter_id(state: str, voter_id: str) -> str:
    """``ST:ID``: state and id stripped and upper-cased, so tools' spellings agree."""
    st, vid = state.strip().upper(), voter_id.strip().upper()
    if len(st) != 2 or not st.isascii() or not st.isalpha():
        raise InputError("a state voter id needs a two-letter state")
    if not vid:
        raise InputError("empty voter id")
    return f"{st}:{vid}"


def normalise_van_id(van_id: str) -> str:
    """Digits only, without leading zeros (VAN ids are numbers)."""
    digits = van_id.strip()
    if not digits.isascii() or not digits.isdigit():
        raise InputError("a VAN id is digits only")
    return str(int(digits))


def digest(key: PseudonymKey, domain: Domain, normalised: str) -> bytes:
    """HMAC-SHA256 of the domain-tagged, already normalised value."""
    message = _PREFIX + domain.value.encode() + b"\x00" + normalised.encode("utf-8")
    return hmac.new(key.secret.get_secret_value().encode(), message, hashlib.sha256).digest()


def voter_pseudonym(key: PseudonymKey, state: str, voter_id: str) -> str:
    return digest(key, Domain.voter, normalise_voter_id(state, voter_id)).hex()


def van_pseudonym(key: PseudonymKey, van_id: str) -> str:
    return digest(key, Domain.van, normalise_van_id(van_id)).hex()


def canvasser_pseudonym(key: PseudonymKey, org_id: str, canvasser_id: str) -> str:
    """Bound to the org: the same opaque id in two orgs is two people."""
    return digest(key, Domain.canvasser, f"{org_id}\x1f{canvasser_id.strip()}").hex()


def shared_event_id(key: PseudonymKey, event_id: str) -> str:
    """A UUID (version 8) from the HMAC of our event id: partners cannot learn our ids, but a
    re-shared event keeps its shared id, so duplicates still collapse downstream."""
    raw = bytearray(digest(key, Domain.event, str(event_id).strip().lower())[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8 (custom)
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def person_pseudonym(
    key: PseudonymKey, person: Mapping[str, Any]
) -> tuple[PersonIdKind, str] | None:
    """The pseudonym of a PersonRef: from its state voter id (the id every partner's voter file
    shares), else its VAN id; None when it has neither in a usable form."""
    state, voter_id = person.get("state"), person.get("voter_id")
    if state and voter_id:
        try:
            return PersonIdKind.state_voter_id, voter_pseudonym(key, state, voter_id)
        except InputError:
            pass
    van_id = person.get("van_id")
    if van_id:
        try:
            return PersonIdKind.van_id, van_pseudonym(key, van_id)
        except InputError:
            pass
    return None
