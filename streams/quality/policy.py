"""Thresholds of the quality checks, with their defaults, configurable per campaign.

Each default is either a figure field staff already use (cited in docs/quality.md) or was set
on the tuning seeds of ``bench/quality.py`` (never on the seeds it reports). A campaign
overrides any of them in the quality policy file (``quality.policy_file`` setting,
``quality.yaml`` under the data directory)::

    quality:
      default: {quarantine: false}
      campaigns:
        demo-org/gotv-2026: {max_doors_per_hour: 35, quarantine: true}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from core.config import read_yaml
from core.errors import ConfigError


class QualityPolicy(BaseModel):
    """One campaign's thresholds. Field docs say what each check holds a shift to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # how a flag is raised
    flag_score: float = Field(
        1.0,
        gt=0,
        description="A shift is flagged when the weights of the checks that fired add up to this.",
    )
    min_contacts: int = Field(5, ge=2, description="No check runs on a shift with fewer.")
    timezone: str = Field(
        "UTC",
        description="The program's time zone: the local day of a "
        "contact picks its peers (a Pacific evening is not the next day).",
    )
    shift_gap_min: float = Field(
        180,
        gt=0,
        description="Without a shift id, a canvasser's "
        "pause this long (minutes) starts a new shift.",
    )
    quarantine: bool = Field(
        False,
        description="Hold flagged work out of goal and coverage counts until a person approves it.",
    )

    # pace (doors)
    max_doors_per_hour: float = Field(
        30,
        gt=0,
        description="Doors per hour over the shift so far; field staff's rule of thumb is 26-27.",
    )
    rate_min_contacts: int = Field(10, ge=2)
    rate_min_span_min: float = Field(
        20, ge=0, description="The shift must span this many minutes before its rate is judged."
    )
    multi_unit_rate_factor: float = Field(
        3,
        ge=1,
        description="Where most consecutive "
        "doors are in one building (voters' addresses within "
        "same_building_m), the limit is multiplied by this.",
    )
    same_building_m: float = Field(40, gt=0)
    unknown_place_rate_factor: float = Field(
        2,
        ge=1,
        description="Where neither the voters' "
        "addresses nor the canvasser's location tell a "
        "building from a street, the limit is multiplied "
        "by this.",
    )
    min_median_gap_s: float = Field(
        25,
        ge=0,
        description="Median seconds between "
        "consecutive doors below this fires (field staff expect "
        "2-4 minutes).",
    )

    # copy-paste times (doors and calls entered live)
    same_time_s: float = Field(
        2, ge=0, description="Consecutive contacts this close in time count as the same time."
    )
    same_time_min_pairs: int = Field(4, ge=1)
    same_time_min_share: float = Field(0.2, gt=0, le=1)

    # peers (same org, campaign, channel and local day)
    min_peers: int = Field(
        5,
        ge=1,
        description="Peer checks need this many other canvassers with min_peer_contacts each.",
    )
    min_peer_contacts: int = Field(10, ge=1)
    peer_review_every: int = Field(
        25,
        ge=1,
        description="Every this many contacts of a peer group (or rejudge_share of its size, "
        "when more), its other shifts are judged against the peers again (a shift that started "
        "early had few peers to compare with).",
    )
    rejudge_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="A shift is judged again once it grew by this share of the contacts it "
        "had when last judged (at least one contact); the agent judges every shift with "
        "contacts not yet judged when the stream goes quiet, and at least every 10 s.",
    )
    rate_z: float = Field(
        4.0,
        gt=0,
        description="Contact or ID rate this many standard errors "
        "above the peers' (random-effects: turfs differ) fires.",
    )
    min_peer_sd: float = Field(
        0.07,
        ge=0,
        description="Honest canvassers' rates differ by at "
        "least this much (turf, hour, list), however alike a few peers "
        "look.",
    )
    rate_test_min: int = Field(
        15,
        ge=1,
        description="Attempts (contact rate) or contacts (ID "
        "rate) needed before the rate is compared.",
    )
    max_contact_rate: float = Field(
        0.65,
        gt=0,
        le=1,
        description="A door contact rate above "
        "this fires whatever the peers do (normal: 10-30%)...",
    )
    high_rate_min: int = Field(25, ge=1, description="...once the shift has this many doors.")
    dist_alpha: float = Field(
        1e-4,
        gt=0,
        lt=1,
        description="Support-level or result "
        "distribution different from the peers' at this p-value fires "
        "(chi-square, corrected for the peers' own spread).",
    )
    dist_min_tvd: float = Field(
        0.25,
        ge=0,
        le=1,
        description="...and only when it differs "
        "from the peers' by at least this total variation distance.",
    )
    support_test_min: int = Field(
        15,
        ge=2,
        description="IDs needed before the support distribution is compared.",
    )
    result_test_min: int = Field(25, ge=2)
    result_dist_weight: float = Field(0.5, ge=0)

    # place
    max_accuracy_m: float = Field(
        100,
        gt=0,
        description="A location less accurate than this is not used (Ecanvasser: no GPS captured).",
    )
    far_from_address_m: float = Field(
        300,
        gt=0,
        description="Beyond the voter's address by "
        "more than this (after accuracy) is far (Ecanvasser's red "
        "band).",
    )
    far_from_precinct_m: float = Field(
        3000,
        gt=0,
        description="The same against a precinct centroid, which only places the voter roughly.",
    )
    far_min: int = Field(4, ge=1)
    far_min_share: float = Field(0.3, gt=0, le=1)
    one_spot_m: float = Field(
        30, gt=0, description="Located doors this close to their median point count as one spot."
    )
    one_spot_min: int = Field(10, ge=2)
    one_spot_share: float = Field(0.9, gt=0, le=1)
    one_spot_min_span_min: float = Field(20, ge=0)
    one_spot_voter_spread_m: float = Field(
        150,
        gt=0,
        description="One spot is suspect only "
        "when the voters' addresses spread wider than this "
        "(an apartment building does not).",
    )
    one_spot_unknown_weight: float = Field(
        0.5, ge=0, description="Weight of one spot when the voters' addresses are not known."
    )
    max_speed_mps: float = Field(
        45,
        gt=0,
        description="Travel between consecutive doors "
        "faster than this (m/s, beyond both accuracies) is impossible.",
    )
    travel_min_m: float = Field(1000, gt=0)
    travel_min_jumps: int = Field(2, ge=1, description="One jump is a GPS glitch; this many fire.")

    # calls
    min_conversation_s: float = Field(
        30,
        gt=0,
        description="A call recorded as a "
        "conversation (a contact, or answers) shorter than this "
        "is too short; calls that reached a machine do not count.",
    )
    short_calls_min: int = Field(5, ge=1)
    short_calls_share: float = Field(0.3, gt=0, le=1)


class QualitySettings(BaseModel):
    """The default policy and each campaign's overrides (keys ``org/campaign``)."""

    model_config = ConfigDict(extra="forbid")

    default: QualityPolicy = Field(default_factory=QualityPolicy)
    campaigns: dict[str, dict[str, Any]] = Field(default_factory=dict)

    _resolved: dict[tuple[str, str], QualityPolicy] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve(self) -> QualitySettings:
        for key, overrides in self.campaigns.items():
            org, sep, campaign = key.partition("/")
            if not sep or not org or not campaign:
                raise ValueError(f"quality campaign key {key!r} is not org/campaign")
            merged = {**self.default.model_dump(), **overrides}
            self._resolved[(org, campaign)] = QualityPolicy.model_validate(merged)
        return self

    def policy_for(self, org_id: str, campaign_id: str) -> QualityPolicy:
        return self._resolved.get((org_id, campaign_id), self.default)


def load_quality_settings(data: object, where: str) -> QualitySettings:
    """The quality section of a config file, or a ConfigError naming what to fix."""
    try:
        return QualitySettings.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def read_quality_file(path: Path) -> QualitySettings:
    """The quality policy file (YAML, the shape in this module's doc); the defaults when it does
    not exist."""
    if not path.exists():
        return QualitySettings()
    return load_quality_settings(read_yaml(path, "quality policy"), str(path))
