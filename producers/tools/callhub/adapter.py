"""CallHub webhooks: call-center notes (``cc.notes``) and text replies (``sb.reply``).

CallHub posts ``{"hook": {"id", "event", "target"}, "data": {...}}`` to the target of a webhook
created with ``POST /v1/webhooks/`` (developer.callhub.io/reference/create-new-webhook). The
documented events are ``vb.transfer``, ``sb.reply``, ``cc.notes`` and ``agent.activation``.

- ``cc.notes`` (an agent saved a call): the contact's fields (``contact`` phone, names,
  address, custom fields by name), ``campaign`` (name), ``agent`` ``{id, username, email}``,
  ``disposition`` (CallHub's default dispositions, support.callhub.io article 900001358306, or
  the account's custom ones; may be null), ``surveys`` ``[{question, answer, type}]``, ``notes``.
- ``sb.reply`` (a text reply arrived): ``content``, ``from_name``, ``from_number``, ``campaign``.

CallHub sends no contact id, call id or time. The person comes from contact fields named in
``ctx.options["person_fields"]`` (``{standard id: CallHub field}``, default
``{"van_id": "van_id"}``); without one the payload becomes an :class:`Unmapped`
(``no_person_id``). The time comes from the body field named in ``ctx.options["time_field"]``
(a merge field the CallHub admin adds to the webhook body); without it, the gateway's receive
time, and the UTC date of it joins the source event id. The source event id is a digest of the
body (a retry posts the same body): identical bodies on the same day are one event. Extra
dispositions: ``ctx.options["dispositions"]``; support levels: ``ctx.options["support_levels"]``
``{question: {answer: 1..5}}``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Unmapped,
    canonical,
    optional,
    person_ref,
    require,
    timestamp,
)

# CallHub's default call dispositions -> canonical result (channel phone).
RESULT_MAP: dict[str, str] = {
    "ANSWER": "canvassed",
    "CALLBACK": "other",
    "BAD_NUMBER": "disconnected",
    "DO_NOT_CALL": "do_not_call",
    "MACHINE": "not_home",
    "NO_ANSWER": "not_home",
    "ORIGINATOR_CANCEL": "other",
    "USER_BUSY": "busy",
    "CONGESTION": "other",
    "UNALLOCATED_NUMBER": "disconnected",
    "NORMAL_TEMPORARY_FAILURE": "other",
    "NETWORK_OUT_OF_ORDER": "other",
    "NORMAL_UNSPECIFIED": "not_home",
    "LEFT_MESSAGE": "left_message",
    "RECOVERY_ON_TIMER_EXPIRE": "other",
}
# Results that mean the person asked not to be contacted again.
OPT_OUT_RESULTS = frozenset({"do_not_call", "do_not_text"})
# Text replies (sb.reply): a reply that is a carrier opt-out keyword (CTIA) -> do_not_text.
SMS_RESULT_MAP: dict[str, str] = {"reply": "texted", "opt_out_keyword": "do_not_text"}
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
IGNORED_EVENTS = frozenset({"agent.activation"})  # not a voter contact
DEFAULT_PERSON_FIELDS = {"van_id": "van_id"}


def adapt(payload: Any, ctx: AdapterContext) -> list[Item]:
    """One CallHub webhook post -> zero or one item."""
    event = require(payload, "hook.event", str)
    data = require(payload, "data", dict)
    if event in IGNORED_EVENTS:
        return []
    source_event_id = f"{event}:{_digest(data)}"
    if event not in ("cc.notes", "sb.reply"):
        return [
            Unmapped(
                "unknown_event",
                f"CallHub event {event!r} is not mapped (only cc.notes and sb.reply are)",
                source_event_id,
                ctx.campaign_id,
            )
        ]
    campaign = ctx.campaign_id or ctx.campaign(optional(payload, "data.campaign", str))
    person = _person(data, ctx)
    if person is None:
        return [
            Unmapped(
                "no_person_id",
                f"CallHub {event} in campaign {campaign!r} names none of the contact fields "
                f"{sorted(_person_fields(ctx).values())} set as person_fields for source "
                f"{ctx.source_id!r}: add the voter's id to the CallHub contact fields",
                source_event_id,
                campaign,
            )
        ]
    occurred_at = _time(data, ctx)
    if not ctx.options.get("time_field"):
        # the time is the gateway's: tell a retry (same body, same day) from a new attempt
        source_event_id += ":" + occurred_at[:10]
    if event == "sb.reply":
        return [_reply(data, ctx, source_event_id, campaign, person, occurred_at)]
    return [_call(data, ctx, source_event_id, campaign, person, occurred_at)]


def _call(
    data: dict[str, Any],
    ctx: AdapterContext,
    source_event_id: str,
    campaign: str,
    person: dict[str, str],
    occurred_at: str,
) -> Item:
    responses = _responses(data, ctx)
    disposition = optional(data, "disposition", str)
    codes = RESULT_MAP | dict(ctx.options.get("dispositions") or {})
    if disposition is None and responses:
        result, raw = "canvassed", "(no disposition; survey answered)"
    elif disposition is None or disposition not in codes:
        return Unmapped(
            "unknown_result_code",
            f"CallHub disposition {disposition!r} (campaign {campaign!r}, source "
            f"{ctx.source_id!r}) is not mapped: add it to the source's dispositions option",
            source_event_id,
            campaign,
        )
    else:
        result, raw = codes[disposition], disposition
    agent = optional(data, "agent.id", (str, int))
    return canonical(
        ctx,
        source_event_id=source_event_id,
        campaign_id=campaign,
        channel="phone",
        occurred_at=occurred_at,
        person=person,
        result=result,
        result_raw=raw,
        contact_type="phone",
        input_method="web",
        canvasser_id=None if agent is None else str(agent),
        responses=responses if result == "canvassed" else None,
        opt_out=result in OPT_OUT_RESULTS,
    )


def _reply(
    data: dict[str, Any],
    ctx: AdapterContext,
    source_event_id: str,
    campaign: str,
    person: dict[str, str],
    occurred_at: str,
) -> Item:
    content = optional(data, "content", str) or ""
    kind = "opt_out_keyword" if content.strip().upper() in STOP_WORDS else "reply"
    result = SMS_RESULT_MAP[kind]
    return canonical(
        ctx,
        source_event_id=source_event_id,
        campaign_id=campaign,
        channel="text",
        occurred_at=occurred_at,
        person=person,
        result=result,
        result_raw=f"sb.reply:{kind}",
        contact_type="sms",
        input_method="api",
        opt_out=result in OPT_OUT_RESULTS,
    )


def _responses(data: dict[str, Any], ctx: AdapterContext) -> list[dict[str, Any]]:
    surveys = optional(data, "surveys", list) or []
    levels = ctx.options.get("support_levels") or {}
    out: list[dict[str, Any]] = []
    for i, survey in enumerate(surveys):
        question = require(survey, "question", str) if isinstance(survey, dict) else None
        if question is None:
            raise PayloadError(f"data.surveys[{i}]", "must be an object")
        answer = survey.get("answer")
        if answer is None or answer == "":
            continue  # a question the agent skipped
        if isinstance(answer, bool) or not isinstance(answer, str | int | float):
            raise PayloadError(f"data.surveys[{i}].answer", "must be a string or a number")
        response: dict[str, Any] = {"question_id": question, "answer": str(answer)}
        level = (levels.get(question) or {}).get(str(answer))
        if isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 5:
            response["support_level"] = level
        out.append(response)
    return out


def _person_fields(ctx: AdapterContext) -> dict[str, str]:
    return dict(ctx.options.get("person_fields") or DEFAULT_PERSON_FIELDS)


def _person(data: dict[str, Any], ctx: AdapterContext) -> dict[str, str] | None:
    person: dict[str, str] = {}
    for standard, field in _person_fields(ctx).items():
        value = optional(data, field, (str, int))
        if value is not None and str(value).strip():
            person[standard] = str(value).strip()
    if "voter_id" in person:
        person |= person_ref(ctx, "voter_id", person["voter_id"], "a CallHub field")
    return person or None


def _time(data: dict[str, Any], ctx: AdapterContext) -> str:
    field = ctx.options.get("time_field")
    if not field and ctx.received_at:
        return ctx.received_at
    if not field:
        raise PayloadError(
            "data",
            "CallHub sends no time with its webhooks: add the call or message time to the "
            f"webhook body and name that field in the time_field option of source "
            f"{ctx.source_id!r}",
        )
    return timestamp(require(data, field, (str, int, float)), f"data.{field}")


def _digest(data: dict[str, Any]) -> str:
    """A stable id for a body that carries none: sha256 of its canonical JSON, shortened."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
