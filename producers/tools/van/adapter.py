"""VAN-compatible adapter: the body of VAN's canvass-response call -> one canonical event.

Tools that already report to VAN (Spoke's ngpvan action handler, Parsons'
``VAN.apply_response`` / ``apply_canvass_result``, Spoke Rewired's VAN sync...) can post the
same body to fieldstream. The gateway serves VAN's two paths and passes the path's person id:

- ``POST /v4/people/{vanId}/canvassResponses`` -> ``id_type="vanid"``
- ``POST /v4/people/{personIdType}:{personId}/canvassResponses`` -> that id type

The body (docs.ngpvan.com, People -> "POST /people/{vanId}/canvassResponses")::

    {"canvassContext": {"contactTypeId": 37, "inputTypeId": 11, "dateCanvassed": "2020-10-01",
                        "phone": {...}, "omitActivistCodeContactHistory": false, ...},
     "resultCodeId": null,
     "responses": [{"type": "SurveyResponse", "surveyQuestionId": 1, "surveyResponseId": 2},
                   {"type": "ActivistCode", "activistCodeId": 3, "action": "Apply"},
                   {"type": "VolunteerActivity", "volunteerActivityId": 4, "action": "Apply"}]}

VAN requires ``resultCodeId`` or ``responses``, never both (responses imply "Canvassed"; a
``resultCodeId`` that maps to canvassed is tolerated beside them). The numeric ids differ per
committee: they are read through the source's code map (:mod:`van_codes`,
``ctx.options["codes"]``, else the defaults). An unknown result code or contact type gives
one :class:`Unmapped` naming every unknown id (the whole contact is held). When only survey
questions or responses are unknown, the attempt and its result are real: the Unmapped carries
the contact (``partial``) with the unknown answers kept as ``unmapped_responses`` (VAN's own
ids), and the intake hallway counts it unless the source holds partial contacts. An unknown
``inputTypeId`` gives input_method "other" (absent, it is VAN's default 11, API).
A body without ``contactTypeId`` uses the source's ``default_contact_type_id``; without one,
its channel is inferred only when its result fits one channel alone (Busy: phone; Lit Drop:
door), with contact type "other"; otherwise (Not Home fits door and phone) it is Unmapped.

What is not carried: "Remove" activist codes and volunteer activities (the standard has no
place for them); the phone (personal data). A body whose only responses are activist codes
with ``omitActivistCodeContactHistory: true`` is not a contact in VAN (no contact history is
written), so it gives no event. Whether a result fits the channel is checked downstream
(streams/logic/validate.py), not here.

Limits, said plainly:

- VAN gives a canvass response no id, so ``source_event_id`` is a hash of (person id type and
  id, dateCanvassed, contactTypeId, resultCodeId, the sorted responses): a retried identical
  request keeps its id, but identical attempts at the same recorded time are one event.
- Without ``dateCanvassed`` VAN uses "now"; an adapter has no clock, so the gateway passes
  its receive time (``received_at``) and the event id keys on that UTC date: a retry the same
  day keeps its id, two identical attempts the same day are one event. Spoke's classic ngpvan
  action handler sends no dateCanvassed. Without either, a PayloadError. A time without offset
  is read in ``ctx.options["timezone"]`` (UTC).
- There is no signature: VAN authenticates with HTTP Basic (application name and API key);
  the gateway checks that credential before calling :func:`adapt`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from core.errors import ConfigError
from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Problems,
    Unmapped,
    canonical,
    digits,
    optional,
    timestamp,
    zone,
)
from schemas.rules import RESULTS_BY_CHANNEL
from schemas.van_codes import ContactType, VanCodes, load_codes

DEFAULT_CODES = load_codes(None)
MAX_ID_DIGITS = 18  # VAN's ids are 32- or 64-bit integers; 18 digits always fit in 64 bits
# Module-level maps of the defaults, for generated docs (per-source files override them).
RESULT_MAP: dict[int, str] = {k: v.result for k, v in DEFAULT_CODES.result_codes.items()}
# VAN person id types (lower case) -> the PersonRef field they fill.
PERSON_ID_TYPES: dict[str, str] = {
    "vanid": "van_id",
    "statefileid": "state_file_id",
    "dwid": "vendor_id",  # DNC data warehouse id (Parsons' example id type)
    "gwid": "vendor_id",  # the default shown on docs.ngpvan.com for {personIdType}
}
VAN_DEFAULT_INPUT_TYPE = 11  # API, VAN's default when inputTypeId is absent
RESPONSE_TYPES = ("SurveyResponse", "ActivistCode", "VolunteerActivity")


def adapt(
    payload: Any,
    ctx: AdapterContext,
    *,
    id_type: str,
    person_id: str,
    received_at: str | None = None,
) -> list[Item]:
    """One VAN canvass-response body (for the person in the path) -> zero or one item.

    ``received_at`` (ISO UTC, from the gateway) stands in for a missing dateCanvassed, as VAN
    uses "now"; the event id then keys on its UTC date, so a retry the same day keeps its id.
    A malformed body raises one PayloadError naming every field that is wrong.
    """
    codes = ctx.options.get("codes") or DEFAULT_CODES
    if not isinstance(codes, VanCodes):
        raise ConfigError(f"source {ctx.source_id!r}: options['codes'] must be VanCodes")
    found = Problems()
    person = found.check(_person, id_type, person_id, ctx)
    if not isinstance(payload, dict):
        found.found.append(("(body)", "must be a JSON object"))
        found.raise_any()
    context = found.check(_opt, payload, "canvassContext", dict, "canvassContext") or {}
    date_canvassed = context.get("dateCanvassed")
    if date_canvassed is None and received_at is not None:
        occurred_at = timestamp(received_at, "received_at")
        id_time = "received:" + occurred_at[:10]
    else:
        path = "canvassContext.dateCanvassed"
        occurred_at = found.check(timestamp, date_canvassed, path, assume_tz=_zone(ctx))
        id_time = occurred_at
    contact_type_id = found.check(_id, context, "contactTypeId", "canvassContext.contactTypeId")
    input_type_id = found.check(_id, context, "inputTypeId", "canvassContext.inputTypeId")
    result_code_id = found.check(_id, payload, "resultCodeId", "resultCodeId")
    responses = _responses(payload, found)
    if (
        payload.get("resultCodeId") is None
        and not responses
        and payload.get("responses")
        in (
            None,
            [],
        )
    ):
        found.found.append(("resultCodeId", "is missing: VAN needs resultCodeId or responses"))
    found.raise_any()
    event_id = _source_event_id(
        id_type, person_id, id_time, contact_type_id, result_code_id, responses
    )
    only_codes = responses and all(r["type"] == "ActivistCode" for r in responses)
    if only_codes and result_code_id is None and context.get("omitActivistCodeContactHistory"):
        return []  # VAN writes no contact history for these: not a contact attempt

    # unknown codes of the attempt itself hold the whole contact; unknown survey answers only
    # hold those answers (the attempt and its result are real: the contact is counted)
    blocking: list[tuple[str, str]] = []
    held: list[tuple[str, str]] = []
    where, source = codes.where(), ctx.source_id
    result, result_raw, opt_out = "canvassed", "Canvassed", False
    if result_code_id is not None:
        code = codes.result_codes.get(result_code_id)
        if code is None:
            blocking.append(_unknown("result_code", "resultCodeId", result_code_id, source, where))
        elif responses and code.result != "canvassed":
            raise PayloadError(
                "resultCodeId",
                "must be null when responses are given (VAN: responses imply Canvassed)",
            )
        else:
            result, result_raw, opt_out = code.result, code.name, code.opt_out
    if contact_type_id is None:
        contact_type_id = codes.default_contact_type_id
    contact = codes.contact_types.get(contact_type_id or -1)
    if contact_type_id is None and result_code_id is not None:
        contact = _only_channel(result)
    if contact is None and contact_type_id is None:
        why = f"source {source!r} sets no default_contact_type_id; set it in {where}"
        blocking.append(("missing_contact_type", f"no VAN contactTypeId and {why}"))
    elif contact is None and contact_type_id is not None:
        blocking.append(_unknown("contact_type", "contactTypeId", contact_type_id, source, where))
    answers, activist_codes, unmapped = _script(responses, codes, source, where, held)
    if blocking:
        return [
            Unmapped(
                reason_code=blocking[0][0],
                reason="; ".join(text for _, text in blocking + held),
                source_event_id=event_id,
                campaign_id=ctx.campaign_id,
            )
        ]
    assert contact is not None and person is not None and occurred_at is not None
    input_type = codes.input_types.get(input_type_id or VAN_DEFAULT_INPUT_TYPE)
    event = canonical(
        ctx,
        source_event_id=event_id,
        campaign_id=ctx.campaign(),
        channel=contact.channel,
        occurred_at=occurred_at,
        person=person,
        result=result,
        result_raw=result_raw,
        contact_type=contact.contact_type,
        input_method=input_type.input_method if input_type else "other",
        responses=answers,
        activist_codes=activist_codes,
        opt_out=opt_out,
        unmapped_responses=unmapped or None,
    )
    if held:
        return [
            Unmapped(
                reason_code=held[0][0],
                reason="; ".join(text for _, text in held),
                source_event_id=event_id,
                campaign_id=ctx.campaign_id,
                partial=event,
            )
        ]
    return [event]


def _only_channel(result: str) -> ContactType | None:
    """The channel a result fits alone (Busy: phone), as a contact type of kind "other"; None
    when it fits several (Not Home: door and phone) or none: then nothing is guessed."""
    channels = [ch for ch, results in RESULTS_BY_CHANNEL.items() if result in results]
    if len(channels) != 1:
        return None
    return ContactType(
        f"(no contactTypeId; {result} fits {channels[0]} only)", channels[0], "other"
    )


def _person(id_type: str, person_id: str, ctx: AdapterContext) -> dict[str, str]:
    kind = id_type.strip().lower() if isinstance(id_type, str) else ""
    target = PERSON_ID_TYPES.get(kind)
    if target is None:
        raise PayloadError(
            "personIdType",
            f"{str(id_type)[:40]!r} is not a person id type fieldstream knows; use one of "
            f"{', '.join(sorted(PERSON_ID_TYPES))}",
        )
    value = person_id.strip() if isinstance(person_id, str) else ""
    if not value:
        field = "vanId" if kind == "vanid" else "personId"
        raise PayloadError(
            field,
            "is missing: the path names no person; post to /v4/people/{vanId}/canvassResponses "
            "or /v4/people/{personIdType}:{personId}/canvassResponses",
        )
    if "/" in value:
        raise PayloadError("personId", "must be one path segment (a VAN id or {idType}:{id})")
    if target == "van_id" and not digits(value):
        raise PayloadError("vanId", "must be a whole number")
    person = {target: value}
    if target == "state_file_id" and ctx.state:
        person |= {"voter_id": value, "state": ctx.state.upper()}
    return person


def _zone(ctx: AdapterContext) -> ZoneInfo:
    name = ctx.options.get("timezone", "UTC")
    return zone(name, f"source {ctx.source_id!r}: timezone {name!r} is not an IANA time zone name")


def _responses(payload: dict[str, Any], found: Problems) -> list[dict[str, Any]]:
    """The script responses, checked for shape (every bad one noted in ``found``) and cut
    down to what identifies them."""
    raw = found.check(_opt, payload, "responses", list, "responses") or []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        response = found.check(_response, item, f"responses[{i}]")
        if response is not None:
            out.append(response)
    return out


def _response(item: Any, path: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise PayloadError(path, "must be an object")
    types = {k.lower(): k for k in RESPONSE_TYPES}
    kind = types.get(str(_opt(item, "type", str, f"{path}.type")).strip().lower())
    if kind is None:
        raise PayloadError(f"{path}.type", f"must be one of {', '.join(RESPONSE_TYPES)}")
    if kind == "SurveyResponse":
        found = Problems()
        question = found.check(_id, item, "surveyQuestionId", f"{path}.surveyQuestionId", True)
        answer = found.check(_id, item, "surveyResponseId", f"{path}.surveyResponseId", True)
        found.raise_any()
        return {"type": kind, "q": question, "r": answer}
    id_field = "activistCodeId" if kind == "ActivistCode" else "volunteerActivityId"
    action = _opt(item, "action", str, f"{path}.action") or "Apply"  # VAN's default
    if action.strip().lower() not in ("apply", "remove"):
        raise PayloadError(f"{path}.action", "must be Apply or Remove")
    ident = _id(item, id_field, f"{path}.{id_field}", True)
    return {"type": kind, "id": ident, "action": action.strip().title()}


def _opt(obj: dict[str, Any], key: str, kind: type, path: str) -> Any:
    """base.optional, naming the full field path on a type error."""
    try:
        return optional(obj, key, kind)
    except PayloadError as exc:
        raise PayloadError(path, exc.problem) from None


def _id(obj: dict[str, Any], key: str, path: str, required: bool = False) -> int | None:
    """A VAN id: an integer (or its digits as a string, as some clients send)."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise PayloadError(path, "is missing")
        return None
    if isinstance(value, str) and digits(value.strip()) and len(value.strip()) <= MAX_ID_DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_ID_DIGITS:
        return value
    raise PayloadError(
        path,
        f"must be a VAN id (a whole number of at most {MAX_ID_DIGITS} digits), "
        f"got {str(value)[:20]!r}",
    )


def _script(
    responses: list[dict[str, Any]],
    codes: VanCodes,
    source: str,
    where: str,
    held: list[tuple[str, str]],
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, str]]]:
    """(answers, activist codes applied, unmapped responses) of a body's script responses."""
    pairs = [(r["q"], r["r"]) for r in responses if r["type"] == "SurveyResponse"]
    answers, unmapped = survey_answers(pairs, codes, source, where, held)
    applied = [r["id"] for r in responses if r["type"] == "ActivistCode" and r["action"] == "Apply"]
    return answers, activist_names(applied, codes), unmapped


def survey_answers(
    pairs: Iterable[tuple[int, int]],
    codes: VanCodes,
    source: str,
    where: str,
    held: list[tuple[str, str]],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(answers, unmapped responses) of VAN (surveyQuestionId, surveyResponseId) pairs through
    the code map; every unknown question or response is noted in ``held`` (reason code, text)
    and kept, with VAN's own ids, as an unmapped response."""
    answers: list[dict[str, Any]] = []
    unmapped: list[dict[str, str]] = []
    for question_id, response_id in pairs:
        question = codes.survey_questions.get(question_id)
        answer = question.responses.get(response_id) if question is not None else None
        if question is None or answer is None:
            if question is None:
                why = _unknown("survey_question", "surveyQuestionId", question_id, source, where)
            else:
                field = f"surveyResponseId (of surveyQuestionId {question_id})"
                why = _unknown("survey_response", field, response_id, source, where)
            held.append(why)
            unmapped.append(
                {"question": str(question_id), "answer": str(response_id), "reason_code": why[0]}
            )
            continue
        answers.append(
            {
                "question_id": question.question_id,
                "answer": answer.answer,
                "support_level": answer.support_level,
            }
        )
    return answers, unmapped


def activist_names(ids: Iterable[int], codes: VanCodes) -> list[str]:
    """The names of activist codes applied (the VAN id where the map has no name), once each."""
    names: list[str] = []
    for ident in ids:
        name = codes.activist_codes.get(ident, str(ident))
        if name not in names:
            names.append(name)
    return names


def _unknown(kind: str, field: str, code: int, source: str, where: str) -> tuple[str, str]:
    section = "survey_questions" if kind.startswith("survey") else f"{kind}s"
    return (
        f"unknown_{kind}",
        f"VAN {field} {code} is not in the code map of source {source!r}; add it under "
        f"{section} in {where}",
    )


def _source_event_id(
    id_type: str,
    person_id: str,
    occurred_at: str,
    contact_type_id: int | None,
    result_code_id: int | None,
    responses: list[dict[str, Any]],
) -> str:
    key = [
        id_type.strip().lower(),
        person_id.strip(),
        occurred_at,
        contact_type_id,
        result_code_id,
        sorted(json.dumps(r, sort_keys=True) for r in responses),
    ]
    digest = hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()
    return f"van-cr-{digest[:40]}"
