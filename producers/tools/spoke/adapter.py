"""Spoke (MoveOnOrg/Spoke, now StateVoicesNational/Spoke): its ``zapier-action`` posts.

Spoke has no general webhook; its ``zapier-action`` action handler
(``src/extensions/action-handlers/zapier-action.js``) posts JSON to URLs the Spoke admin sets:

- ``processAction`` -> ``ZAPIER_ACTION_URL`` when a texter saves an answer whose interaction
  step has the zapier action: ``{questionResponse: {campaignContactId, interactionStepId,
  value}, interactionStep, campaignContactId, contact, campaign, organization, previousValue,
  conversationLink}``. ``contact`` is the campaign_contact row (``id``, ``external_id``,
  ``assignment_id``, ``updated_at``, ``is_opted_out``...). ``interactionStepId`` is the step
  that asked the question; ``interactionStep`` is the answer's child step (the payload shape of
  ``__test__/extensions/action-handlers/zapier-action.test.js`` names it ``actionObject``).
- ``onTagUpdate`` -> ``ZAPIER_WEBHOOK_URL`` when a contact's tags change:
  ``{texter: {name, email}, campaign: {id, title}, conversation, tags: [names]}``.

A question response becomes a ``canvassed`` text event with one response. The payload has
no time of the answer: ``contact.updated_at`` is the closest time Spoke sends. A tag update
names no contact identifier at all (only the conversation link, which carries Spoke's own
campaign-contact id), so it cannot name a person: it becomes an :class:`Unmapped` item.
Spoke's zapier handler sends no opt-out; ``contact.is_opted_out`` is carried to ``opt_out``.

Options (``ctx.options``): ``external_id_is`` (``van_id`` default, ``voter_id`` with the
source's state, ``state_file_id``, ``vendor_id``): which id Spoke's ``external_id`` holds;
``support_levels``: ``{question step id: {answer: 1..5}}`` for ID questions.
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

# What each kind of Spoke post means in the standard. Tag updates are not here: they name no
# person (see the module docstring), so they always go to the dead-letter topic.
RESULT_MAP: dict[str, str] = {"question_response": "canvassed"}


def adapt(payload: Any, ctx: AdapterContext) -> list[Item]:
    """One Spoke zapier-action post -> one event (question response) or one Unmapped (tags)."""
    if not isinstance(payload, dict):
        raise PayloadError("(payload)", "must be a JSON object")
    if "questionResponse" in payload:
        return [_question_response(payload, ctx)]
    if "tags" in payload or "conversation" in payload:
        return [_tag_update(payload, ctx)]
    raise PayloadError(
        "questionResponse",
        "is missing, and the payload is no tag update either (no tags or conversation): "
        "expected a Spoke zapier-action post",
    )


def _question_response(payload: dict[str, Any], ctx: AdapterContext) -> Item:
    step_id = _id(payload, "questionResponse.interactionStepId")
    value = require(payload, "questionResponse.value", str)
    contact_id = _id(payload, "contact.id")
    spoke_campaign = _id(payload, "campaign.id")
    occurred_at = timestamp(
        require(payload, "contact.updated_at", (str, int, float)), "contact.updated_at"
    )
    assignment = optional(payload, "contact.assignment_id", (str, int))
    result = RESULT_MAP["question_response"]
    return canonical(
        ctx,
        source_event_id=f"qr:{contact_id}:{step_id}:{value}",
        campaign_id=ctx.campaign_id or spoke_campaign,
        channel="text",
        occurred_at=occurred_at,
        person=_person(payload, ctx),
        result=result,
        result_raw=value,
        contact_type="p2p_sms",
        input_method="web",
        turf_id=spoke_campaign,
        list_id=None if assignment is None else str(assignment),
        shift_id=None if assignment is None else f"assignment-{assignment}",
        responses=[_response(ctx, step_id, value)],
        opt_out=optional(payload, "contact.is_opted_out", bool) is True,
    )


def _tag_update(payload: dict[str, Any], ctx: AdapterContext) -> Item:
    spoke_campaign = _id(payload, "campaign.id")
    link = require(payload, "conversation", str)
    tags = require(payload, "tags", list)
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise PayloadError(f"tags[{i}]", f"must be a string, got {type(tag).__name__}")
    contact_id = link.rstrip("/").rsplit("/", 1)[-1]
    return Unmapped(
        reason_code="no_person_id",
        reason=(
            f"Spoke tag update in Spoke campaign {spoke_campaign}: Spoke's zapier-action "
            "onTagUpdate sends no contact identifier (only texter, campaign, conversation link "
            "and tag names), so the event cannot name a person; record IDs as question "
            "responses instead"
        ),
        source_event_id=f"tags:{contact_id}:{'|'.join(sorted(tags))}",
        campaign_id=ctx.campaign_id or spoke_campaign,
    )


def _person(payload: dict[str, Any], ctx: AdapterContext) -> dict[str, str]:
    target = person_target(ctx, "external_id_is")
    return person_ref(ctx, target, _id(payload, "contact.external_id"), "Spoke external_id")


def _response(ctx: AdapterContext, question_id: str, answer: str) -> dict[str, Any]:
    response: dict[str, Any] = {"question_id": question_id, "answer": answer}
    level = _support_level(ctx, question_id, answer)
    if level is not None:
        response["support_level"] = level
    return response


def _support_level(ctx: AdapterContext, question_id: str, answer: str) -> int | None:
    levels = ctx.options.get("support_levels") or {}
    level = (levels.get(question_id) or {}).get(answer)
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise ConfigError(
            f"source {ctx.source_id!r}: support_levels for question {question_id!r} answer "
            f"{answer!r} is {level!r}; it must be 1 (strong support) to 5 (strong oppose)"
        )
    return level


def _id(payload: dict[str, Any], path: str) -> str:
    """A Spoke id: JSON number or string (Spoke sends both), as a string."""
    return str(require(payload, path, (str, int))).strip()
