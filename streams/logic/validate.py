"""Business rules a decoded contact event must pass before it is enriched.

One plain function, :func:`validate`, returns ``None`` for a good event or the first broken
rule as ``(reason_code, reason)``. Reasons are sentences a data manager can act on and never
carry personal data (no voter ids, names or phone numbers): only org, campaign, channel and
result codes, timestamps and counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.config import Programs
from schemas.rules import RESULTS_BY_CHANNEL

Rejection = tuple[str, str]


PERSON_IDS = ("voter_id", "van_id", "state_file_id", "vendor_id")
SUPPORT_LEVELS = range(1, 6)


def validate(record: dict[str, Any], programs: Programs, future_skew_s: float) -> Rejection | None:
    """The first business rule ``record`` (a decoded ContactEvent) breaks, or None."""
    org, campaign = record["org_id"], record["campaign_id"]
    if not programs.knows_org(org):
        return (
            "unknown_org",
            f"org {org!r} is not in programs.yaml: add it there, or fix the org the "
            "sending tool is configured with",
        )
    if not programs.knows_campaign(org, campaign):
        return (
            "unknown_campaign",
            f"campaign {campaign!r} is not a campaign of org {org!r} in programs.yaml: add it "
            "to the org's campaigns, or fix the campaign the sending tool uses",
        )
    occurred: dt.datetime = record["occurred_at"]
    received: dt.datetime = record["received_at"]
    if occurred > received + dt.timedelta(seconds=future_skew_s):
        ahead = occurred - received
        return (
            "future_occurred_at",
            f"occurred_at {occurred.isoformat()} is {_duration(ahead)} after the event was "
            f"received ({received.isoformat()}); at most {future_skew_s:g}s of clock skew is "
            "allowed: check the sending tool's clock and time zone (occurred_at must be UTC)",
        )
    result, channel = record["result"], record["channel"]
    responses = record["responses"]
    if responses and result != "canvassed":
        return (
            "responses_without_contact",
            f"{len(responses)} survey response(s) on a {channel} attempt with result "
            f"{result!r}: responses mean someone was spoken to, so the result must be "
            "'canvassed'; fix the tool's result mapping or drop the responses",
        )
    allowed = RESULTS_BY_CHANNEL.get(channel)
    if allowed is not None and result not in allowed:
        return (
            "result_channel_mismatch",
            f"result {result!r} is not possible on the {channel} channel (allowed: "
            f"{', '.join(sorted(allowed))}): fix the tool's result mapping or the channel",
        )
    for i, response in enumerate(responses):
        level = response["support_level"]
        if level is not None and level not in SUPPORT_LEVELS:
            return (
                "bad_support_level",
                f"survey response {i + 1} (question {response['question_id']!r}) has "
                f"support_level {level}; it must be 1 (strong support) to 5 (strong oppose), "
                "or null for questions that are not ID questions",
            )
    person = record["person"]
    if not any(_present(person.get(name)) for name in PERSON_IDS):
        return (
            "missing_person",
            "the event names no person: set at least one of person.voter_id (with "
            "person.state), person.van_id, person.state_file_id or person.vendor_id",
        )
    return None


def _present(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    return f"{seconds}s"
