"""CallHub webhooks: call-center notes (``cc.notes``) are phone attempts, mapped as below; text
replies (``sb.reply``) are no attempts (a STOP or START reply is an opt-out or opt-in signal).

CallHub posts two shapes:

- the API webhook (``POST /v1/webhooks/``, developer.callhub.io/reference/create-new-webhook):
  ``{"hook": {"id", "event", "target"}, "data": {...}}``; its documented events are
  ``vb.transfer``, ``sb.reply``, ``cc.notes`` and ``agent.activation``;
- the workflow webhook ("Webhooks in CallHub workflows", support.callhub.io article
  9595414965913): the data alone, with no ``hook`` envelope, and any merge fields the admin
  added. Its event is ``ctx.options["workflow_event"]`` when set, else read from the body: a
  text reply's keys (``content``, ``from_number``) make ``sb.reply``; otherwise ``cc.notes``.

- ``cc.notes`` (an agent saved a call): the contact's fields (``contact`` phone, names,
  address, custom fields by name), ``campaign`` (name), ``agent`` ``{id, username, email}``,
  ``disposition`` (CallHub's default dispositions, support.callhub.io article 900001358306, or
  the account's custom ones; may be null), ``surveys`` ``[{question, answer, type}]``, ``notes``.
  A call is an attempt on the phone channel; a DO_NOT_CALL call is also an opt-out signal for
  the number called.
- ``sb.reply`` (a text reply arrived): ``content``, ``from_name``, ``from_number``, ``campaign``.
  A reply is the person writing back, not an attempt: it gives no contact. A reply that is a
  carrier opt-out keyword (CTIA: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) is an opt-out
  of texts, START or UNSTOP an opt-in: person signals for the replying number (and the
  person, when ``person_fields`` finds one in the body), kept even when no person id is known.

CallHub sends no contact id, call id or time. The person of a call comes from contact fields
named in ``ctx.options["person_fields"]`` (``{standard id: CallHub field}``, default
``{"van_id": "van_id"}``; for example ``{"vendor_id": "contact"}`` keys people by phone);
without one the call becomes an :class:`Unmapped` (``no_person_id``). The time comes from the
body field named in ``ctx.options["time_field"]`` (a merge field the CallHub admin adds to the
webhook body); without it, the gateway's receive time, and the UTC date of it joins the source
event id. The source event id is a digest of the body (a retry posts the same body): identical
bodies on the same day are one event. Extra dispositions: ``ctx.options["dispositions"]``;
support levels: ``ctx.options["support_levels"]`` ``{question: {answer: 1..5}}``. Phone
numbers are read as CallHub writes them, with their country code (``16507868628``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.errors import ConfigError
from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Signal,
    Unmapped,
    canonical,
    optional,
    person_ref,
    require,
    timestamp,
)
from producers.tools.records import e164, person_signal

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
# Who a call reached, where the disposition says (CallHub's answering-machine detection gives
# MACHINE; a message is left on a machine); the standard's `reached` (since 1.1).
REACHED: dict[str, str] = {"ANSWER": "person", "MACHINE": "machine", "LEFT_MESSAGE": "machine"}
# Results that mean the person asked not to be contacted again.
OPT_OUT_RESULTS = frozenset({"do_not_call", "do_not_text"})
# Text replies (sb.reply) that are carrier keywords (CTIA): the signal they give.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
IGNORED_EVENTS = frozenset({"agent.activation"})  # not a voter contact
DEFAULT_PERSON_FIELDS = {"van_id": "van_id"}
WORKFLOW_EVENTS = ("cc.notes", "sb.reply")


def adapt(payload: Any, ctx: AdapterContext) -> list[Item]:
    """One CallHub webhook post (either shape) -> its items."""
    event, data = _envelope(payload, ctx)
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
    campaign = ctx.campaign_id or ctx.campaign(optional(data, "campaign", str))
    person = _person(data, ctx)
    if event == "sb.reply":
        return _reply(data, ctx, source_event_id, campaign, person)
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
    source_event_id = _dated(source_event_id, occurred_at, ctx)
    call = _call(data, ctx, source_event_id, campaign, person, occurred_at)
    if isinstance(call, dict) and call["result"] == "do_not_call":
        return [call, _opt_out_of_calls(call, data, ctx)]
    return [call]


def _envelope(payload: Any, ctx: AdapterContext) -> tuple[str, dict[str, Any]]:
    """(event, data) of an API webhook post or a workflow webhook body."""
    if not isinstance(payload, dict):
        raise PayloadError("(payload)", "must be a JSON object")
    if "hook" in payload or "data" in payload:
        return require(payload, "hook.event", str), require(payload, "data", dict)
    event = ctx.options.get("workflow_event")
    if event is not None and event not in WORKFLOW_EVENTS:
        raise ConfigError(
            f"source {ctx.source_id!r} sets workflow_event {str(event)[:40]!r}; it must be one "
            f"of {', '.join(WORKFLOW_EVENTS)}",
        )
    if event is None:
        is_reply = "content" in payload and "from_number" in payload
        call_keys = ("disposition", "surveys", "contact", "notes", "agent")
        if not is_reply and not any(k in payload for k in call_keys):
            raise PayloadError(
                "hook",
                "is missing, and the body is no workflow webhook either (no disposition, "
                "surveys, contact or notes of a call; no content and from_number of a reply)",
            )
        event = "sb.reply" if is_reply else "cc.notes"
    return str(event), payload


def _dated(source_event_id: str, occurred_at: str, ctx: AdapterContext) -> str:
    """The id, with the UTC date when the time is the gateway's: a retry (same body, same
    day) keeps its id, the same body another day is another attempt."""
    if ctx.options.get("time_field"):
        return source_event_id
    return source_event_id + ":" + occurred_at[:10]


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
        reached=REACHED.get(disposition or "", "person" if responses else None),
    )


def _reply(
    data: dict[str, Any],
    ctx: AdapterContext,
    source_event_id: str,
    campaign: str,
    person: dict[str, str] | None,
) -> list[Item]:
    """A text reply: no attempt; a STOP or START keyword is an opt-out or opt-in signal."""
    content = optional(data, "content", str) or ""
    word = content.strip().upper()
    kind = "opt_out" if word in STOP_WORDS else "opt_in" if word in START_WORDS else None
    if kind is None:
        return []  # the person wrote back: not an attempt, and no signal
    phone = e164(optional(data, "from_number", (str, int)), None)
    if person is None and phone is None:
        return [
            Unmapped(
                "no_person_id",
                f"CallHub sb.reply {word} in campaign {campaign!r} names no phone number and none "
                f"of the fields {sorted(_person_fields(ctx).values())} of source "
                f"{ctx.source_id!r}",
                source_event_id,
                campaign,
            )
        ]
    occurred_at = _time(data, ctx)
    return [
        person_signal(
            ctx,
            source_event_id=_dated(source_event_id, occurred_at, ctx),
            occurred_at=occurred_at,
            kind=kind,
            raw=f"sb.reply {word}",
            person=person,
            phone=phone,
            channel="text",
            campaign_id=campaign,
        )
    ]


def _opt_out_of_calls(call: dict[str, Any], data: dict[str, Any], ctx: AdapterContext) -> Signal:
    """The opt-out a DO_NOT_CALL call records, for the person and the number called."""
    return person_signal(
        ctx,
        source_event_id=f"{call['source_event_id']}:opt_out:phone",
        occurred_at=call["occurred_at"],
        kind="opt_out",
        raw=str(call["result_raw"]),
        person=call["person"],
        phone=e164(optional(data, "contact", (str, int)), None),
        channel="phone",
        campaign_id=call["campaign_id"],
        contact_source_event_id=call["source_event_id"],
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
