"""OSDI canvasses and the record-canvass helper -> a contact attempt and tag signals: the
status_code maps as below (an empty one means the target was reached); the source's
``status_codes`` option maps others, such as NGP VAN's result code ids.

OSDI (opensupporter/osdi-docs; implemented by Action Network and NGP VAN) records a canvass
two ways, both for one person (the "target"), named in the route:

- ``POST .../people/{id}/record_canvass_helper`` (``record_canvass.md``): ``{"canvass":
  {origin_system, action_date, contact_type, input_type, success, status_code, canvasser},
  "add_tags": [names], "add_tags_uri": [links], "add_questions_responses_uri": [{question,
  responses[], value}], "add_lists", "triggers"}``. NGP VAN's bridge reads answers from
  ``add_answers`` (same items) and tags as activist code ids.
- ``POST .../people/{id}/canvasses`` or ``.../canvassing_efforts/{id}/canvasses``
  (``canvasses.md``): a Canvass resource, ``{identifiers, origin_system, action_date,
  contact_type, input_type, success, status_code, _links: {osdi:canvasser, osdi:target,
  osdi:canvassing_effort}}``; posted to an effort, the person is the ``osdi:target`` link.

The attempt: channel and contact type from ``contact_type`` (defaults from the spec's and VAN's
examples: ``in-person``/``walk`` door, ``phoneCall``/``phone`` phone; the ``contact_types``
option adds others), the result from ``status_code`` (empty or missing, and ``success``: reached;
``not-home``: not home; the ``status_codes`` option maps others, for example VAN's result code
ids), input method from ``input_type`` (``mobile``, ``paper``; else other). Answers become survey
responses (the question id is the last segment of its URI; the ``questions`` option names them
as the VAN codes file's ``survey_questions`` does). The canvasser and the canvassing effort are
the last segments of their links (``canvasser_id``, ``program_id``). A code the options do not
know is never guessed: the attempt becomes an :class:`Unmapped`. Tags are person signals
(``tag_added``; with option ``tags_are: activist_codes``, ``activist_code_applied``), kept even
when the attempt is held. Lists and triggers are ignored (neither a contact nor a signal).

Options: ``person_id_is`` (van_id default; a van_id must be a whole number), ``contact_types``
``{code: channel | {channel, contact_type}}``, ``status_codes`` ``{code: result}``,
``input_types`` ``{code: input_method}``, ``questions``, ``tags_are``, ``timezone`` (for an
``action_date`` without offset; UTC by default).
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
    contact_codes,
    digits,
    person_ref,
    person_target,
    timestamp,
    zone,
)
from producers.tools.records import person_signal

# contact_type (lower case) -> (channel, contact_type of the standard)
CONTACT_TYPES: dict[str, tuple[str, str]] = {
    "in-person": ("door", "walk"),  # the spec's examples
    "phonecall": ("phone", "phone"),
    "walk": ("door", "walk"),  # NGP VAN's bridge (contact types 2 and 1)
    "phone": ("phone", "phone"),
}
STATUS_CODES: dict[str, str] = {"": "canvassed", "success": "canvassed", "not-home": "not_home"}
INPUT_TYPES: dict[str, str] = {"mobile": "mobile_app", "paper": "paper"}
CHANNEL_CONTACT_TYPE = {"door": "walk", "phone": "phone", "text": "sms"}
ANSWER_KEYS = ("add_questions_responses_uri", "add_answers", "question_response")


def adapt_helper(
    payload: Any, ctx: AdapterContext, *, person_id: str, received_at: str | None = None
) -> list[Item]:
    """One record_canvass_helper body for the person in the route -> items."""
    if not isinstance(payload, dict):
        raise PayloadError("(body)", "must be a JSON object")
    canvass = payload.get("canvass")
    if not isinstance(canvass, dict):
        raise PayloadError(
            "canvass",
            'is missing: a record_canvass_helper body is {"canvass": {...}, "add_tags": '
            '[...], "add_questions_responses_uri": [...]}',
        )
    canvasser = canvass.get("canvasser")
    if canvasser is None:
        canvasser = _href(canvass, "osdi:canvasser")
    return _adapt(
        canvass,
        payload,
        ctx,
        person_id=person_id,
        canvasser=_str(canvasser, "canvass.canvasser"),
        effort=_href(canvass, "osdi:canvassing_effort"),
        received_at=received_at,
        at="canvass.",
    )


def adapt_canvass(
    payload: Any,
    ctx: AdapterContext,
    *,
    person_id: str | None = None,
    effort_id: str | None = None,
    received_at: str | None = None,
) -> list[Item]:
    """One Canvass resource, posted for a person or for a canvassing effort -> items."""
    if not isinstance(payload, dict):
        raise PayloadError("(body)", "must be a JSON object")
    if "canvass" in payload:
        raise PayloadError(
            "canvass",
            "is a record_canvass_helper body: post it to .../people/{id}/record_canvass_helper",
        )
    target = _href(payload, "osdi:target")
    person = person_id or (_last(target) if target else None)
    if not person:
        raise PayloadError(
            "_links.osdi:target", "is missing: name the person canvassed (a link to the Person)"
        )
    effort = effort_id or _href(payload, "osdi:canvassing_effort")
    return _adapt(
        payload,
        payload,
        ctx,
        person_id=person,
        canvasser=_href(payload, "osdi:canvasser"),
        effort=effort,
        received_at=received_at,
        at="",
    )


def _adapt(
    canvass: dict[str, Any],
    actions: dict[str, Any],
    ctx: AdapterContext,
    *,
    person_id: str,
    canvasser: str | None,
    effort: str | None,
    received_at: str | None,
    at: str,
) -> list[Item]:
    person = _person(person_id, ctx)
    occurred_at = _time(canvass.get("action_date"), received_at, ctx, at)
    answers = _answers(actions, ctx)
    tags = _tags(actions)
    source_event_id = _source_event_id(canvass, person_id, actions)
    campaign = ctx.campaign()
    signals = _tag_signals(tags, ctx, source_event_id, occurred_at, person, campaign)
    contact_type = _str(canvass.get("contact_type"), f"{at}contact_type")
    status = _str(canvass.get("status_code"), f"{at}status_code", ints=True) or ""
    success = canvass.get("success")
    if success is not None and not isinstance(success, bool):
        raise PayloadError(f"{at}success", "must be true or false")
    held = _held(ctx, contact_type, status, success, source_event_id, campaign)
    if held is not None:
        return [held, *signals]
    channel, kind = _contact_type(ctx, contact_type)
    result = _status_codes(ctx)[status.strip().lower()]
    if success is False and result == "canvassed":
        raise PayloadError(f"{at}success", "is false but status_code says the target was reached")
    if answers and result != "canvassed":
        raise PayloadError(f"{at}status_code", f"is {status!r}: answers need a reached target")
    input_type = _str(canvass.get("input_type"), f"{at}input_type") or ""
    inputs = INPUT_TYPES | {str(k).lower(): v for k, v in _option(ctx, "input_types").items()}
    contact = canonical(
        ctx,
        source_event_id=source_event_id,
        campaign_id=campaign,
        channel=channel,
        occurred_at=occurred_at,
        person=person,
        result=result,
        result_raw=status or ("success" if success else "(no status_code)"),
        contact_type=kind,
        input_method=inputs.get(input_type.strip().lower(), "other"),
        canvasser_id=_last(canvasser) if canvasser else None,
        program_id=_last(effort) if effort else None,
        shift_id=_last(effort) if effort else None,  # an effort is a time-boxed canvass
        responses=answers or None,
    )
    return [contact, *signals]


def _held(
    ctx: AdapterContext,
    contact_type: str | None,
    status: str,
    success: bool | None,
    source_event_id: str,
    campaign: str,
) -> Unmapped | None:
    """The Unmapped for a contact type or status the source's maps do not know, else None."""
    where = f"source {ctx.source_id!r}"
    unknown: list[tuple[str, str]] = []
    if not contact_type:
        unknown.append(("missing_contact_type", "the canvass has no contact_type"))
    elif contact_type.strip().lower() not in _contact_types(ctx):
        why = f"OSDI contact_type {contact_type[:40]!r} is not mapped for {where}"
        unknown.append(("unknown_contact_type", f"{why}: add it to its contact_types option"))
    codes = _status_codes(ctx)
    if status.strip().lower() not in codes:
        why = f"OSDI status_code {status[:40]!r} is not mapped for {where}"
        unknown.append(("unknown_result_code", f"{why}: add it to its status_codes option"))
    elif not status.strip() and success is False:
        why = "success is false and no status_code says why the target was not reached"
        unknown.append(("unknown_result_code", why))
    if not unknown:
        return None
    return Unmapped(unknown[0][0], "; ".join(t for _, t in unknown), source_event_id, campaign)


def _person(person_id: str, ctx: AdapterContext) -> dict[str, str]:
    value = person_id.strip() if isinstance(person_id, str) else ""
    if not value:
        raise PayloadError("person", "is missing from the route")
    target = person_target(ctx, "person_id_is")
    if target == "van_id" and not digits(value):
        raise PayloadError(
            "person",
            f"{value[:40]!r} is not a VAN id (a whole number); if this sender's person ids are "
            f"another kind, set person_id_is for source {ctx.source_id!r}",
        )
    return person_ref(ctx, target, value, "the OSDI person id")


def _time(value: Any, received_at: str | None, ctx: AdapterContext, at: str) -> str:
    if value is None or value == "":
        if received_at is None:
            raise PayloadError(f"{at}action_date", "is missing")
        return timestamp(received_at, "received_at")
    name = ctx.options.get("timezone", "UTC")
    tz = zone(name, f"source {ctx.source_id!r}: timezone {name!r} is not an IANA time zone name")
    return timestamp(value, f"{at}action_date", assume_tz=tz)


def _answers(actions: dict[str, Any], ctx: AdapterContext) -> list[dict[str, Any]]:
    questions = _option(ctx, "questions")
    out: list[dict[str, Any]] = []
    for key in ANSWER_KEYS:
        raw = actions.get(key)
        if raw is None:
            continue
        items = [raw] if key == "question_response" and isinstance(raw, dict) else raw
        if not isinstance(items, list):
            raise PayloadError(key, "must be an array of {question, responses, value}")
        for i, item in enumerate(items):
            path = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise PayloadError(path, "must be an object")
            question = _str(item.get("question"), f"{path}.question")
            if not question:
                raise PayloadError(f"{path}.question", "is missing")
            qid = _last(question)
            mapped = questions.get(qid) or {}
            if not isinstance(mapped, dict):
                raise ConfigError(f"source {ctx.source_id!r}: questions.{qid} must be a mapping")
            name = str(mapped.get("name") or qid)
            keys = item.get("responses") or []
            if not isinstance(keys, list):
                raise PayloadError(f"{path}.responses", "must be an array")
            given = [_str(k, f"{path}.responses[{j}]", ints=True) for j, k in enumerate(keys)]
            value = _str(item.get("value"), f"{path}.value")
            for answer in dict.fromkeys([k for k in given if k] + ([value] if value else [])):
                out.append(_answer(name, answer, (mapped.get("responses") or {}).get(answer)))
    return out


def _answer(question: str, answer: str, mapped: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"question_id": question, "answer": answer}
    if isinstance(mapped, str):
        response["answer"] = mapped
    elif isinstance(mapped, dict):
        response["answer"] = str(mapped.get("answer") or answer)
        level = mapped.get("support_level")
        if isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 5:
            response["support_level"] = level
    return response


def _tags(actions: dict[str, Any]) -> list[tuple[str, str]]:
    """(tag name, as sent) of add_tags and add_tags_uri, each once."""
    out: dict[str, str] = {}
    for key in ("add_tags", "add_tags_uri"):
        raw = actions.get(key)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise PayloadError(key, "must be an array")
        for i, value in enumerate(raw):
            text = _str(value, f"{key}[{i}]", ints=True)
            if text:
                out.setdefault(_last(text) if key == "add_tags_uri" else text, text)
    return list(out.items())


def _tag_signals(
    tags: list[tuple[str, str]],
    ctx: AdapterContext,
    source_event_id: str,
    occurred_at: str,
    person: dict[str, str],
    campaign: str,
) -> list[Signal]:
    kind = "activist_code_applied" if ctx.options.get("tags_are") == "activist_codes" else None
    return [
        person_signal(
            ctx,
            source_event_id=f"{source_event_id}:tag:{name}",
            occurred_at=occurred_at,
            kind=kind or "tag_added",
            raw=raw,
            person=person,
            code=name,
            campaign_id=campaign,
            contact_source_event_id=source_event_id,
        )
        for name, raw in tags
    ]


def _contact_types(ctx: AdapterContext) -> dict[str, tuple[str, str]]:
    known = dict(CONTACT_TYPES)
    codes = contact_codes()
    for code, spec in _option(ctx, "contact_types").items():
        channel = spec.get("channel") if isinstance(spec, dict) else spec
        kind = spec.get("contact_type") if isinstance(spec, dict) else None
        kind = kind or CHANNEL_CONTACT_TYPE.get(str(channel), "")
        if channel not in codes["channel"] or kind not in codes["contact_type"]:
            raise ConfigError(
                f"source {ctx.source_id!r}: contact_types.{code} must name a channel "
                f"({', '.join(sorted(codes['channel']))}) and, optionally, a contact_type"
            )
        known[str(code).strip().lower()] = (str(channel), str(kind))
    return known


def _contact_type(ctx: AdapterContext, contact_type: str | None) -> tuple[str, str]:
    return _contact_types(ctx)[str(contact_type).strip().lower()]


def _status_codes(ctx: AdapterContext) -> dict[str, str]:
    known = dict(STATUS_CODES)
    results = contact_codes()["result"]
    for code, result in _option(ctx, "status_codes").items():
        if result not in results:
            raise ConfigError(
                f"source {ctx.source_id!r}: status_codes.{code} is {result!r}, not a result "
                "of the standard (docs/data-standard.md)"
            )
        known[str(code).strip().lower()] = str(result)
    return known


def _option(ctx: AdapterContext, name: str) -> dict[str, Any]:
    value = ctx.options.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"source {ctx.source_id!r}: option {name} must be a mapping")
    return value


def _source_event_id(canvass: dict[str, Any], person_id: str, actions: dict[str, Any]) -> str:
    identifiers = canvass.get("identifiers")
    if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], str):
        return identifiers[0]
    text = json.dumps([person_id.strip(), actions], sort_keys=True, separators=(",", ":"))
    return "osdi-helper:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _href(obj: dict[str, Any], rel: str) -> str | None:
    links = obj.get("_links")
    link = links.get(rel) if isinstance(links, dict) else None
    href = link.get("href") if isinstance(link, dict) else None
    return href if isinstance(href, str) and href.strip() else None


def _last(link: str) -> str:
    """The last path segment of a link (the id of the resource it names), or the text itself."""
    return link.strip().rstrip("/").rsplit("/", 1)[-1]


def _str(value: Any, path: str, *, ints: bool = False) -> str | None:
    if value is None:
        return None
    if ints and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise PayloadError(path, "must be a string")
    return value.strip()
