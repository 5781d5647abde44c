"""Sharing agreements: what of our contacts each partner of the exchange may see.

Why configuration: a data manager, not a developer, decides what leaves, and the decision must
be readable, reviewable and logged. Why an allow-list: a field no agreement names never leaves,
so a new field in the data standard is private until someone decides otherwise. Why a version
(a hash of the agreement's canonical content): every shared record carries it, so any record
can be traced to the exact terms that allowed it, and a change shows up in the log
(:func:`diff_agreements`) and takes effect for events shared after the reload.

The file format, term by term, is in docs/exchange.md ("Set up a partner").

Only one agreement per partner may be in force at any instant, so a record's terms are never
ambiguous. A firewall violation an agreement states outright fails the load; one that only a
``"*"`` could reach (a campaign the file does not list) is refused per event by
:func:`streams.exchange.share.share`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from core.config import read_yaml
from core.errors import ConfigError

ALL_CAMPAIGNS = "*"
Demographic = Literal["age_band", "sex", "race", "ethnicity"]


class Precision(StrEnum):
    """How finely a shared timestamp is kept (it is truncated down to this unit)."""

    day = "day"
    hour = "hour"
    minute = "minute"


class GeoLevel(StrEnum):
    """How much of the voter's geography is shared (see share.GEOGRAPHY for the fields)."""

    none = "none"
    state = "state"
    county = "county"
    congressional_district = "congressional_district"
    precinct = "precinct"


class _Strict(BaseModel):
    # a misspelt key fails the load instead of silently meaning "not shared"
    model_config = ConfigDict(extra="forbid", frozen=True)


def midnight_utc(value: Any) -> Any:
    """A date (YAML ``2026-01-01``, quoted or not) means midnight UTC."""
    if isinstance(value, str) and len(value.strip()) == 10 and value.strip()[4:5] == "-":
        value = dt.date.fromisoformat(value.strip())  # ValueError: pydantic names the key
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value


def aware_utc(value: dt.datetime) -> dt.datetime:
    """Naive times are refused: their zone would be a guess."""
    if value.tzinfo is None:
        raise ValueError("a time must say its zone (for example 2026-01-01T00:00:00Z)")
    return value.astimezone(dt.UTC)


class SharedSource(_Strict):
    """One of our orgs and which of its campaigns are shared."""

    org: str = Field(min_length=1)
    campaigns: list[str] = Field(min_length=1)

    @field_validator("campaigns")
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))  # order in the file is not a term of the agreement

    def covers(self, org_id: str, campaign_id: str) -> bool:
        return org_id == self.org and (
            ALL_CAMPAIGNS in self.campaigns or campaign_id in self.campaigns
        )


class FieldRules(_Strict):
    """The allow-list: everything defaults to not shared, except the required precision."""

    timestamps: Precision
    timezone: str = "UTC"  # where a day (or hour) starts when timestamps are truncated
    channel: bool = False
    result: bool = False
    survey_questions: list[str] = Field(default_factory=list)
    support_levels: list[str] = Field(default_factory=list)
    activist_codes: list[str] = Field(default_factory=list)
    canvasser: bool = False
    geography: GeoLevel = GeoLevel.none
    demographics: list[Demographic] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone (for example America/New_York)") from None
        return value

    @field_validator("survey_questions", "support_levels", "activist_codes", "demographics")
    @classmethod
    def _sorted(cls, value: list[Any]) -> list[Any]:
        return sorted(set(value))


class Agreement(_Strict):
    """What one partner may see, for how long."""

    id: str = Field(min_length=1)
    partner: str = Field(min_length=1)
    valid_from: dt.datetime
    valid_until: dt.datetime
    share: list[SharedSource] = Field(min_length=1)
    fields: FieldRules
    # set by parse_agreements from the firewall: our orgs and org/campaigns this partner's
    # side may never see (an agreement built by hand has none: load files instead)
    _barred: frozenset[str] = PrivateAttr(default_factory=frozenset)
    # (id of the instance, version): a copy (model_copy(update=...)) has another id, so it
    # never reuses the version of the terms it was copied from
    _version: tuple[int, str] | None = PrivateAttr(default=None)

    @field_validator("valid_from", "valid_until", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return midnight_utc(value)

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return aware_utc(value)

    @property
    def version(self) -> str:
        """Hash of the canonical content: equal terms, equal version; any change, a new one.
        Computed once per instance (the model is frozen), not once per shared record."""
        cached = self._version
        if cached is not None and cached[0] == id(self):
            return cached[1]
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        version = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        self._version = (id(self), version)
        return version

    def in_force(self, now: dt.datetime) -> bool:
        return self.valid_from <= now < self.valid_until

    def covers(self, org_id: str, campaign_id: str) -> bool:
        return any(s.covers(org_id, campaign_id) for s in self.share)

    def firewalled(self, org_id: str, campaign_id: str) -> bool:
        """Whether the loaded firewall bars this org or org/campaign from the partner."""
        return org_id in self._barred or f"{org_id}/{campaign_id}" in self._barred


class FirewallGroup(_Strict):
    """Members of one side: our orgs, our campaigns (``org/campaign``), partners."""

    orgs: list[str] = Field(default_factory=list)
    campaigns: list[str] = Field(default_factory=list)
    partners: list[str] = Field(default_factory=list)

    @field_validator("campaigns")
    @classmethod
    def _org_slash_campaign(cls, value: list[str]) -> list[str]:
        if any(not org or not c for org, _, c in (item.partition("/") for item in value)):
            raise ValueError("campaigns are written org/campaign")
        return value


class AgreementsFile(_Strict):
    agreements: list[Agreement] = Field(default_factory=list)
    firewall_groups: dict[str, FirewallGroup] = Field(default_factory=dict)
    never_share_between: list[tuple[str, str]] = Field(default_factory=list)


@dataclass(frozen=True)
class Agreements:
    """The loaded, checked agreements and firewall; what the exchange consults per event."""

    agreements: tuple[Agreement, ...]
    firewall_groups: dict[str, FirewallGroup] = field(default_factory=dict)
    never_share_between: tuple[tuple[str, str], ...] = ()

    def by_id(self, agreement_id: str) -> Agreement | None:
        return next((a for a in self.agreements if a.id == agreement_id), None)

    def partners(self) -> list[str]:
        """Every partner any agreement names (in force or not), sorted."""
        return sorted({a.partner for a in self.agreements})

    def in_force(self, partner: str, now: dt.datetime) -> Agreement | None:
        """The partner's agreement in force at ``now`` (at most one: checked at load)."""
        return next((a for a in self.agreements if a.partner == partner and a.in_force(now)), None)

    def barred(self, partner: str) -> frozenset[str]:
        """Our orgs and ``org/campaign``s whose data a firewall keeps from ``partner``."""
        theirs = {name for name, g in self.firewall_groups.items() if partner in g.partners}
        out: set[str] = set()
        for a, b in self.never_share_between:
            for mine, other in ((a, b), (b, a)):
                if other in theirs:
                    out.update(self.firewall_groups[mine].orgs)
                    out.update(self.firewall_groups[mine].campaigns)
        return frozenset(out)


def _where(loc: tuple[int | str, ...], raw: Any) -> str:
    """A pydantic error location as a key path, agreements named by id rather than index."""
    parts: list[str] = []
    for n, p in enumerate(loc):
        if isinstance(p, str):
            parts.append(p)
            continue
        item = raw["agreements"][p] if n == 1 and loc[0] == "agreements" else None
        parts[-1] = f"{parts[-1]}[{item.get('id', p) if isinstance(item, dict) else p}]"
    return ".".join(parts) or "the file as a whole"


def _check(parsed: AgreementsFile, path: Path) -> None:
    ids = [a.id for a in parsed.agreements]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"agreements file {path}: agreement ids listed twice: {dupes}")
    for n, a in enumerate(parsed.agreements):
        if a.valid_until <= a.valid_from:
            raise ConfigError(
                f"agreements file {path}: agreements[{a.id}].valid_until must be after valid_from"
            )
        for b in parsed.agreements[n + 1 :]:
            overlap = a.valid_from < b.valid_until and b.valid_from < a.valid_until
            if a.partner == b.partner and overlap:
                raise ConfigError(
                    f"agreements file {path}: agreements[{a.id}] and agreements[{b.id}] are both "
                    f"in force for partner {a.partner} at once: end one before the other starts"
                )
    for pair in parsed.never_share_between:
        for name in pair:
            if name not in parsed.firewall_groups:
                raise ConfigError(
                    f"agreements file {path}: never_share_between names group {name!r}, "
                    "which firewall_groups does not define"
                )


def _check_firewall(agreements: Agreements, path: Path) -> None:
    for a in agreements.agreements:
        for n, source in enumerate(a.share):
            campaigns = [c for c in source.campaigns if c != ALL_CAMPAIGNS] or [ALL_CAMPAIGNS]
            for campaign in campaigns:
                if a.firewalled(source.org, campaign):
                    what = source.org if campaign == ALL_CAMPAIGNS else f"{source.org}/{campaign}"
                    raise ConfigError(
                        f"agreements file {path}: agreements[{a.id}].share[{n}] shares {what} "
                        f"with partner {a.partner}, which a never_share_between rule forbids"
                    )


def parse_agreements(data: object, path: Path = Path("<agreements>")) -> Agreements:
    """Check already-parsed YAML; ``path`` only names the source in messages."""
    try:
        parsed = AgreementsFile.model_validate(data)
    except ValidationError as exc:
        # pydantic's own message would echo input values; name the keys and what is wrong
        problems = "; ".join(f"{_where(tuple(e['loc']), data)}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"agreements file {path}: {problems}") from None
    _check(parsed, path)
    out = Agreements(
        tuple(parsed.agreements), dict(parsed.firewall_groups), tuple(parsed.never_share_between)
    )
    for a in out.agreements:
        a._barred = out.barred(a.partner)
    _check_firewall(out, path)
    return out


def load_agreements(path: Path) -> Agreements:
    """Read and check agreements.yaml; ConfigError names the key that is wrong."""
    return parse_agreements(read_yaml(path, "agreements"), path)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": leaf}``; lists are leaves."""
    if not isinstance(value, dict):
        return {prefix: value}
    return {
        p: v
        for k, sub in value.items()
        for p, v in _flat(sub, f"{prefix}.{k}" if prefix else k).items()
    }


def _firewall(agreements: Agreements) -> dict[str, Any]:
    groups = {k: g.model_dump(mode="json") for k, g in agreements.firewall_groups.items()}
    pairs = sorted(list(p) for p in agreements.never_share_between)
    return _flat({"firewall_groups": groups, "never_share_between": pairs})


def diff_agreements(old: Agreements, new: Agreements) -> list[str]:
    """One log line per change from ``old`` to ``new`` (no personal data: terms only)."""
    lines: list[str] = []
    old_by_id = {a.id: a for a in old.agreements}
    new_by_id = {a.id: a for a in new.agreements}
    for aid in sorted(old_by_id.keys() - new_by_id.keys()):
        a = old_by_id[aid]
        lines.append(f"agreement {aid} (partner {a.partner}) removed; was version {a.version}")
    for aid in sorted(new_by_id.keys() - old_by_id.keys()):
        a = new_by_id[aid]
        lines.append(f"agreement {aid} (partner {a.partner}) added at version {a.version}")
    for aid in sorted(old_by_id.keys() & new_by_id.keys()):
        a, b = old_by_id[aid], new_by_id[aid]
        if a.version == b.version:
            continue
        before, after = _flat(a.model_dump(mode="json")), _flat(b.model_dump(mode="json"))
        for key in sorted(before.keys() | after.keys()):
            if before.get(key) != after.get(key):
                lines.append(
                    f"agreement {aid} version {a.version} -> {b.version}: {key}: "
                    f"{json.dumps(before.get(key))} -> {json.dumps(after.get(key))}"
                )
    was, now = _firewall(old), _firewall(new)
    for key in sorted(was.keys() | now.keys()):
        if was.get(key) != now.get(key):
            lines.append(
                f"firewall: {key}: {json.dumps(was.get(key))} -> {json.dumps(now.get(key))}"
            )
    return lines
