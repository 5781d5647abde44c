"""Flags as QualityFlag records (schemas/avro/org.fieldstream.v1.QualityFlag.avsc)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from streams.quality.model import Flag


def _time(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def flag_record(flag: Flag, quarantine: bool) -> dict[str, Any]:
    """The QualityFlag record of ``flag``; ``quarantine``: the campaign's policy."""
    return {
        "flag_id": flag.flag_id,
        "org_id": flag.org_id,
        "campaign_id": flag.campaign_id,
        "channel": flag.channel,
        "canvasser_id": flag.canvasser_id,
        "shift_key": flag.shift_key,
        "first_contact_at": _time(flag.first_contact_at),
        "last_contact_at": _time(flag.last_contact_at),
        "flagged_at": _time(flag.flagged_at),
        "updated_at": _time(flag.updated_at),
        "contacts": flag.contacts,
        "score": float(flag.score),
        "quarantine": quarantine,
        "checks": [
            {
                "check": c.check,
                "value": None if c.value is None else float(c.value),
                "threshold": None if c.threshold is None else float(c.threshold),
                "weight": float(c.weight),
                "detail": {k: str(v) for k, v in c.detail.items()},
            }
            for c in flag.checks
        ],
    }
