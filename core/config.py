"""Config files a data manager edits: the programs registry and the sources (senders).

programs.yaml::

    timezone: America/New_York      # the programs' clock unless an org or campaign says else
    orgs:
      - id: demo-org
        name: Demo Organizing Project
        timezone: America/Chicago   # optional: this org's clock
        campaigns:
          - gotv-2026               # a plain id keeps the org's clock
          - id: persuasion-2026     # or a mapping, for a clock or a forecast ramp of its own
            timezone: America/Los_Angeles
            ramp:
              weekdays: [1, 1, 1, 1, 1, 1.5, 1.5]        # Monday..Sunday, relative volume
              points: [{date: 2026-09-07, level: 1}, {date: 2026-11-02, level: 3}]
        folds:                      # one contact, one count across paths (docs/analytics.md)
          window_minutes: 60
          pairs: [[spoke, van]]     # [primary, secondary]: the primary's copy is the one counted

sources.yaml (holds secrets: keep it out of version control; its path is a setting)::

    sources:
      - id: demo-canvass-app        # sent by the tool in the X-Fieldstream-Source header
        org_id: demo-org            # the only org this credential may write for
        secrets: ["...", "..."]     # any of them is accepted (rotation)
      - id: state-party-van         # a tool that writes to VAN, pointed at fieldstream
        org_id: demo-org
        secrets: ["..."]            # its VAN API key (HTTP Basic password, "|1" suffix allowed)
        tool: van                   # canonical (default), or a tool: docs/sources.md
        campaign_id: gotv-2026      # for payloads that name no campaign
        state: PA                   # the voter-file state of the voter ids it sends
        codes_file: van-codes.yaml  # this committee's VAN codes (relative: next to this file)
        signing_secrets: ["whsec_..."]  # webhook signing keys (Standard Webhooks or the tool's)
        options: {timezone: America/New_York}
        partial_contacts: count     # count (default) or hold: unknown survey answers only

Both files are read again while the services run (core/watch.py): an edit takes effect within
seconds, a broken edit is refused and logged, and the previous version is kept.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from core.errors import ConfigError

# the clock of a program whose programs.yaml names none: most US voters live in it; a program
# elsewhere sets its own (every board says which zone its days and weeks are in)
DEFAULT_TIMEZONE = "America/New_York"
DEFAULT_FOLD_WINDOW_MINUTES = 60


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else ValueError naming it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. America/Chicago)") from exc
    return name


class RampPoint(BaseModel):
    date: dt.date
    level: float = Field(gt=0)


class RampConfig(BaseModel):
    """How a campaign's daily volume is expected to move (the forecast's shape): a relative
    volume per weekday (Monday first) and levels on dates, linear between them and flat
    outside. Left out, each part is learned from the campaign's own recent days."""

    weekdays: list[float] | None = Field(None, min_length=7, max_length=7)
    points: list[RampPoint] = Field(default_factory=list)

    @field_validator("weekdays")
    @classmethod
    def _positive(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (any(w < 0 for w in value) or sum(value) <= 0):
            raise ValueError("weekdays are 7 volumes >= 0, not all 0")
        return value


class CampaignConfig(BaseModel):
    id: str = Field(min_length=1)
    timezone: str | None = None
    ramp: RampConfig | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return value if value is None else check_timezone(value)


class FoldConfig(BaseModel):
    """Which sources carry the same contacts (a tool's webhook and VAN's export of that tool's
    write-back), and how far apart in time their copies of one contact may be."""

    window_minutes: int = Field(DEFAULT_FOLD_WINDOW_MINUTES, ge=0, le=24 * 60)
    pairs: list[tuple[str, str]] = Field(default_factory=list)

    @field_validator("pairs")
    @classmethod
    def _distinct(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for primary, secondary in value:
            if not primary or not secondary or primary == secondary:
                raise ValueError(f"pair {[primary, secondary]} must name two different sources")
        return value


class OrgConfig(BaseModel):
    id: str = Field(min_length=1)
    name: str = ""
    campaigns: list[str | CampaignConfig] = Field(default_factory=list)
    timezone: str | None = None
    folds: FoldConfig = Field(default_factory=FoldConfig)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return value if value is None else check_timezone(value)

    def campaign_configs(self) -> list[CampaignConfig]:
        return [CampaignConfig(id=c) if isinstance(c, str) else c for c in self.campaigns]


class ProgramsFile(BaseModel):
    timezone: str = DEFAULT_TIMEZONE
    orgs: list[OrgConfig] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


class SourceConfig(BaseModel):
    """One sender. ``tool`` picks the adapter its payloads go through (canonical = the data
    standard's own JSON at /v1/events)."""

    id: str = Field(min_length=1)
    org_id: str = Field(min_length=1)
    secrets: list[SecretStr] = Field(min_length=1)
    tool: str = Field("canonical", min_length=1)  # a folder of producers/tools/ (checked there)
    campaign_id: str | None = None  # for tools whose payloads name no campaign
    state: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # voter ids' file state
    codes_file: Path | None = None  # the tool's code map (VAN result/contact/survey codes)
    signing_secrets: list[SecretStr] = Field(default_factory=list)  # the tool's webhook keys
    options: dict[str, Any] = Field(default_factory=dict)  # tool-specific, see docs/sources.md
    # a contact whose result maps but some survey responses do not: count it (its unknown
    # answers held for a replay) or hold the whole contact back
    partial_contacts: Literal["count", "hold"] = "count"


class SourcesFile(BaseModel):
    sources: list[SourceConfig] = Field(default_factory=list)


@dataclass(frozen=True)
class Programs:
    """Which orgs exist and which campaigns each runs; each campaign's clock (an IANA zone),
    forecast ramp, and each org's cross-path fold rule."""

    campaigns_by_org: dict[str, frozenset[str]]
    default_zone: str = DEFAULT_TIMEZONE
    org_zones: Mapping[str, str] = field(default_factory=dict)
    campaign_zones: Mapping[tuple[str, str], str] = field(default_factory=dict)
    ramps: Mapping[tuple[str, str], RampConfig] = field(default_factory=dict)
    folds: Mapping[str, FoldConfig] = field(default_factory=dict)

    def knows_org(self, org_id: str) -> bool:
        return org_id in self.campaigns_by_org

    def knows_campaign(self, org_id: str, campaign_id: str) -> bool:
        return campaign_id in self.campaigns_by_org.get(org_id, frozenset())

    def zone_of(self, org_id: str, campaign_id: str) -> str:
        """The campaign's zone, else its org's, else the file's (``timezone:``)."""
        found = self.campaign_zones.get((org_id, campaign_id))
        return found or self.org_zones.get(org_id) or self.default_zone

    def zones(self) -> dict[tuple[str, str], str]:
        """Every known (org, campaign) -> its zone."""
        return {
            (org, c): self.zone_of(org, c)
            for org, campaigns in self.campaigns_by_org.items()
            for c in campaigns
        }

    def ramp_of(self, org_id: str, campaign_id: str) -> RampConfig:
        return self.ramps.get((org_id, campaign_id)) or RampConfig()

    def folds_of(self, org_id: str) -> FoldConfig:
        return self.folds.get(org_id) or FoldConfig()


def read_yaml(path: Path, what: str, *, echo_errors: bool = True) -> object:
    """A config file's YAML, or a ConfigError naming the file. ``echo_errors=False`` for files
    holding secrets: YAML's message quotes the offending text."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} does not exist") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        if not echo_errors:
            raise ConfigError(f"{what} file {path} is not valid YAML") from None
        raise ConfigError(f"{what} file {path} is not valid YAML: {exc}") from exc


def load_programs(path: Path) -> Programs:
    try:
        parsed = ProgramsFile.model_validate(read_yaml(path, "programs"))
    except ValidationError as exc:
        raise ConfigError(f"programs file {path}: {exc}") from exc
    return programs_of(parsed)


def programs_of(parsed: ProgramsFile) -> Programs:
    """The Programs a validated programs file describes."""
    campaigns = {o.id: o.campaign_configs() for o in parsed.orgs}
    return Programs(
        {org: frozenset(c.id for c in cs) for org, cs in campaigns.items()},
        default_zone=parsed.timezone,
        org_zones={o.id: o.timezone for o in parsed.orgs if o.timezone},
        campaign_zones={
            (org, c.id): c.timezone for org, cs in campaigns.items() for c in cs if c.timezone
        },
        ramps={(org, c.id): c.ramp for org, cs in campaigns.items() for c in cs if c.ramp},
        folds={o.id: o.folds for o in parsed.orgs},
    )


def load_sources(path: Path) -> dict[str, SourceConfig]:
    if path.exists():
        check_private(path, "sources")
    try:
        parsed = SourcesFile.model_validate(read_yaml(path, "sources"))
    except ValidationError as exc:
        # pydantic's message would echo input values; name only the fields
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise ConfigError(f"sources file {path} has bad entries at: {fields}") from None
    for s in parsed.sources:
        if s.codes_file is not None and not s.codes_file.is_absolute():
            s.codes_file = path.parent / s.codes_file
    ids = [s.id for s in parsed.sources]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ConfigError(f"sources file {path} lists source ids twice: {sorted(dupes)}")
    return {s.id: s for s in parsed.sources}


def write_programs(path: Path, orgs: list[OrgConfig], timezone: str = DEFAULT_TIMEZONE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = ProgramsFile(timezone=timezone, orgs=orgs).model_dump(mode="json", exclude_defaults=True)
    data = {"timezone": timezone, "orgs": body.get("orgs", [])}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write_sources(path: Path, sources: list[SourceConfig]) -> None:
    data = {"sources": [_source_dict(s) for s in sources]}
    write_private(path, yaml.safe_dump(data, sort_keys=False))


def check_private(path: Path, what: str) -> None:
    """ConfigError if a file holding secrets can be read by every user of the machine, or
    changed by anyone but its owner (group read is allowed: a service's own group)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
        raise ConfigError(
            f"{what} file {path} holds secrets but its mode is {mode:04o}: "
            f"chmod 600 {path} (or 640, group = the service's)"
        )


def private_dir(path: Path) -> Path:
    """Create ``path`` 0700 (parents as the umask says); a directory of ours that others can
    enter is closed to them (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return path


def _source_dict(source: SourceConfig) -> dict[str, Any]:
    data = source.model_dump(mode="json", exclude_defaults=True)
    data["secrets"] = [x.get_secret_value() for x in source.secrets]
    if source.signing_secrets:
        data["signing_secrets"] = [x.get_secret_value() for x in source.signing_secrets]
    return data


def write_private(path: Path, text: str) -> None:
    """Write a file that holds secrets, readable by this user only from its first byte: it is
    created 0600 under a temporary name in the same directory, then renamed over ``path``
    (so a reader never sees it half written, and no umask ever widens it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a stale one may have another mode: create it afresh
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
