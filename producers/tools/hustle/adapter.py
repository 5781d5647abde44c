"""Hustle (P2P texting) webhooks: ``messageStatus-v1`` events as text contacts (sent or
delivered: ``texted``; failed or undelivered: ``deliverability_error``; a message still in
flight: no event) and ``consentUpdate-v1`` events as person signals (an opt-out or opt-in of
texts: not an attempt, the attempt was the message).

Documented, in Hustle's Public API v3 OpenAPI (https://api.hustle.com/v3/docs/swagger.json,
archived as api-evangelist/hustle ``openapi/_original/hustle-openapi-original.json``):
the two event types (``WebhookConfig`` oneOf ``ConsentUpdateV1Config`` /
``MessageStatusV1Config``), that consent updates carry opt-outs and, only when the
registration sets ``includeOptIn``, opt-ins; the ``Lead`` resource (``id``,
``organizationId``, ``customFields`` string map, ``globalOptedOut``...). Hustle's later
``MessageStatus`` resource (``GET /messages/{id}``: ``id``, ``threadId``, ``status``,
``type`` SMS|MMS, ``createdAt``, ``errorCode``; status non-terminal ``pending_lookup`` /
``queued``, terminal ``sent`` / ``failed`` / ``undelivered`` plus carrier statuses) is from
api-evangelist's capture of the live spec (``openapi/hustle-messages-api-openapi.yml``).

Assumed, because the spec's ``webhooks`` section is empty (tests/data/hustle/SOURCES.md):
the body is ``{"type": <config type>, "message": MessageStatus, "lead": Lead}`` for message
statuses and ``{"type": "consentUpdate-v1", "lead": Lead}`` for consent updates, the
direction of a consent update read from ``lead.globalOptedOut``.

Time: a message's ``createdAt``; a consent update has no time of its own, so the gateway's
receive time (``ctx.received_at``). Ids: ``msg:<message id>:<status>`` and
``consent:<lead id>:<optOut|optIn>``, so a retried delivery gives the same event id. A consent
signal carries the lead's ``phoneNumber`` (E.164) beside the person, so an opt-out is recorded
even for a lead without the person field.

Options (``ctx.options``): ``person_field``, the lead custom field holding the person's id
(for example ``vanid``); without it the event names the person by Hustle's lead id in
``vendor_id``, which joins no voter file. ``person_id_is`` (``van_id`` default,
``voter_id`` with the source's state, ``state_file_id``, ``vendor_id``): what that field holds.
A lead without the configured field gives an Unmapped item (``no_person_id``).
"""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError
from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Unmapped,
    canonical,
    optional,
    person_ref,
    person_target,
    require,
    timestamp,
)
from producers.tools.records import e164, person_signal

MESSAGE_STATUS = "messageStatus-v1"
CONSENT_UPDATE = "consentUpdate-v1"

# messageStatus-v1: message.status -> canonical result
STATUS_MAP: dict[str, str] = {
    "sent": "texted",
    "delivered": "texted",
    "failed": "deliverability_error",
    "undelivered": "deliverability_error",
}
RESULT_MAP: dict[str, str] = dict(STATUS_MAP)
# consentUpdate-v1: the direction of the change -> the person signal's kind (channel text)
CONSENT_MAP: dict[str, str] = {"optOut": "opt_out", "optIn": "opt_in"}

# documented values that are no contact attempt (yet): they give no event at all
NON_TERMINAL: dict[str, str] = {
    "pending_lookup": "message status, not final: Hustle is still looking the number up",
    "queued": "message status, not final: the message has not left Hustle",
}


def adapt(payload: Any, ctx: AdapterContext) -> list[Item]:
    """One Hustle webhook body -> zero or one event, or one Unmapped item."""
    if not isinstance(payload, dict):
        raise PayloadError("(payload)", "must be a JSON object")
    kind = require(payload, "type", str).strip()
    if kind == MESSAGE_STATUS:
        return _message_status(payload, ctx)
    if kind == CONSENT_UPDATE:
        return _consent_update(payload, ctx)
    return [
        Unmapped(
            reason_code="unknown_event_type",
            reason=(
                f"Hustle webhook type {kind[:60]!r} is not mapped: fieldstream maps "
                f"{MESSAGE_STATUS} and {CONSENT_UPDATE}"
            ),
            campaign_id=ctx.campaign_id,
        )
    ]


def _message_status(payload: dict[str, Any], ctx: AdapterContext) -> list[Item]:
    message_id = require(payload, "message.id", str).strip()
    status = require(payload, "message.status", str).strip()
    lead_id, campaign = _lead(payload, ctx)
    source_event_id = f"msg:{message_id}:{status}"
    if status in NON_TERMINAL:
        return []  # the final status comes in a later event
    result = STATUS_MAP.get(status)
    if result is None:
        return [
            Unmapped(
                reason_code="unknown_result_code",
                reason=(
                    f"Hustle message status {status[:60]!r} (message {message_id}) is not in "
                    "hustle.STATUS_MAP: add it there (texted or deliverability_error) and replay"
                ),
                source_event_id=source_event_id,
                campaign_id=campaign,
            )
        ]
    created = optional(payload, "message.createdAt", (str, int, float))
    if created is not None:
        occurred_at = timestamp(created, "message.createdAt")
    else:
        occurred_at = _received(ctx, "message.createdAt")
    person = _person(payload, ctx, lead_id)
    if person is None:
        return [_no_person(ctx, source_event_id, campaign, f"message {message_id}")]
    return [
        canonical(
            ctx,
            source_event_id=source_event_id,
            campaign_id=campaign,
            channel="text",
            occurred_at=occurred_at,
            person=person,
            result=result,
            result_raw=status,
            contact_type="p2p_sms",
        )
    ]


def _consent_update(payload: dict[str, Any], ctx: AdapterContext) -> list[Item]:
    lead_id, campaign = _lead(payload, ctx)
    opted_out = require(payload, "lead.globalOptedOut", bool)
    change = "optOut" if opted_out else "optIn"
    source_event_id = f"consent:{lead_id}:{change}"
    occurred_at = _received(ctx, "received_at")
    person = _person(payload, ctx, lead_id)
    phone = e164(optional(payload, "lead.phoneNumber", str), None)
    if person is None and phone is None:
        what = "opt-out" if opted_out else "opt-in"
        return [_no_person(ctx, source_event_id, campaign, what)]
    return [
        person_signal(
            ctx,
            source_event_id=source_event_id,
            occurred_at=occurred_at,
            kind=CONSENT_MAP[change],
            raw=f"{CONSENT_UPDATE} {change}",
            person=person,
            phone=phone,
            channel="text",
            campaign_id=campaign,
        )
    ]


def _lead(payload: dict[str, Any], ctx: AdapterContext) -> tuple[str, str]:
    """The lead's Hustle id, and the campaign: the source's, else the lead's organization."""
    require(payload, "lead", dict)
    lead_id = require(payload, "lead.id", str).strip()
    organization = require(payload, "lead.organizationId", str).strip()
    return lead_id, ctx.campaign_id or organization


def _received(ctx: AdapterContext, field: str) -> str:
    if not ctx.received_at:
        raise PayloadError(
            field,
            "is missing, and no receive time was given: Hustle sends no time for this event, "
            "so it can only come through the gateway (which sets received_at)",
        )
    return timestamp(ctx.received_at, "received_at")


def _person(payload: dict[str, Any], ctx: AdapterContext, lead_id: str) -> dict[str, str] | None:
    """The person's ids per the source's options; None when the lead lacks the id field."""
    field = ctx.options.get("person_field")
    if field is None:
        return {"vendor_id": lead_id}
    if not isinstance(field, str) or not field.strip() or "." in field:
        raise ConfigError(
            f"source {ctx.source_id!r}: option person_field is {field!r}; it must be the name "
            "of a Hustle lead custom field (for example vanid)"
        )
    target = person_target(ctx, "person_id_is")
    require(payload, "lead.customFields", dict)
    value = optional(payload, f"lead.customFields.{field.strip()}", str)
    if value is None or not value.strip():
        return None
    return person_ref(ctx, target, value.strip(), f"Hustle custom field {field!r}")


def _no_person(ctx: AdapterContext, source_event_id: str, campaign: str, what: str) -> Unmapped:
    field = ctx.options.get("person_field")
    return Unmapped(
        reason_code="no_person_id",
        reason=(
            f"Hustle {what}: the lead has no value in custom field {field!r} (the source's "
            "person_field), so the event names no person; set it on the lead and replay"
        ),
        source_event_id=source_event_id,
        campaign_id=campaign,
    )
