"""Canvasser data quality: checks per shift and against peers, computed as contacts arrive
(docs/quality.md)."""

from streams.quality.model import CheckResult, Flag, Obs, obs_from_enriched
from streams.quality.monitor import QualityMonitor
from streams.quality.policy import QualityPolicy, QualitySettings

__all__ = [
    "CheckResult",
    "Flag",
    "Obs",
    "QualityMonitor",
    "QualityPolicy",
    "QualitySettings",
    "obs_from_enriched",
]
