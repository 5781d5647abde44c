"""What to post to VAN for one contact: the tool's own body, or one mapped back through codes.

Pure functions. A contact that came through the VAN-compatible route carries the request as
the tool sent it (person, body, database mode): it is posted unchanged. A contact from another
tool is mapped back through the org's VAN codes (the same codes file the VAN route reads,
inverted: :class:`ReverseCodes`). Whatever cannot be mapped is not guessed: :func:`plan`
returns a :class:`NotPosted` with a reason a data manager can act on.

VAN rules the mapping keeps (tests/data/van_api/SOURCES.md): ``resultCodeId`` or
``responses``, never both (responses imply Canvassed); a phone for contact types 1 (Phone)
and 37 (SMS Text), which the data standard does not carry, so such contacts are not posted
from other tools (send them through the VAN-compatible route, which carries the tool's body,
or let the tool write them to VAN); ``skipMatching`` when the org asks for it, so two
genuine attempts within the hour are both kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

PHONE_CONTACT_TYPES = frozenset({1, 37})  # VAN requires canvassContext.phone for these
API_INPUT_TYPE = 11  # VAN's own default input type, "API"


@dataclass(frozen=True)
class Call:
    person: str  # "123" (a VAN id) or "stateFileId:PA1"
    body: bytes  # JSON, exactly what is posted
    mode: int


@dataclass(frozen=True)
class NotPosted:
    reason_code: str
    reason: str


@dataclass(frozen=True)
class ReverseCodes:
    """A VAN codes file read backwards: the standard's codes -> the committee's VAN ids."""

    results: dict[str, int] = field(default_factory=dict)
    contact_types: dict[tuple[str, str], int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    answers: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    activist_codes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_sections(cls, sections: dict[str, Any]) -> ReverseCodes:
        """From a codes file's sections as plain data (``VanCodes.describe()``).

        Where several VAN ids mean the same code, the lowest id is used, so the choice never
        changes between runs.
        """
        out = cls()
        for ident, entry in _sorted(sections.get("result_codes")):
            out.results.setdefault(entry["result"], ident)
        for ident, entry in _sorted(sections.get("contact_types")):
            out.contact_types.setdefault((entry["channel"], entry["contact_type"]), ident)
            out.channels.setdefault(entry["channel"], ident)
        for ident, entry in _sorted(sections.get("input_types")):
            out.inputs.setdefault(entry["input_method"], ident)
        for ident, entry in _sorted(sections.get("survey_questions")):
            question = entry.get("question_id") or entry.get("name") or str(ident)
            for rid, answer in _sorted(entry.get("responses")):
                out.answers.setdefault((question, answer["answer"]), (ident, rid))
        for ident, name in _sorted(sections.get("activist_codes")):
            out.activist_codes.setdefault(name, ident)
        return out


def _sorted(section: dict[Any, Any] | None) -> list[tuple[int, Any]]:
    return sorted(((int(k), v) for k, v in (section or {}).items()), key=lambda kv: kv[0])


def person_path(person: dict[str, Any]) -> str | None:
    """The VAN path person for a contact's PersonRef: its VAN id, else its state file id."""
    van_id = (person.get("van_id") or "").strip()
    if van_id.isdigit():
        return van_id
    state_file_id = (person.get("state_file_id") or "").strip()
    if state_file_id:
        return f"stateFileId:{state_file_id}"
    return None


def from_van_route(van: dict[str, Any], default_mode: int) -> Call:
    """The request a VAN-compatible tool sent, to be posted as it was."""
    mode = van.get("mode")
    return Call(
        person=van["person"],
        body=van["body"].encode() if isinstance(van["body"], str) else van["body"],
        mode=mode if mode in (0, 1) else default_mode,
    )


def map_back(
    contact: dict[str, Any], codes: ReverseCodes, *, mode: int, skip_matching: bool
) -> Call | NotPosted:
    """A canonical contact -> VAN's canvass-response body, through the org's VAN codes."""
    person = person_path(contact.get("person") or {})
    if person is None:
        return NotPosted(
            "no_van_person",
            "the contact names no VAN id or state file id, so VAN cannot find the person",
        )
    channel, contact_type = contact["channel"], contact.get("contact_type") or "other"
    contact_type_id = codes.contact_types.get((channel, contact_type), codes.channels.get(channel))
    if contact_type_id is None:
        return NotPosted(
            "unmapped_channel",
            f"no VAN contact type in the org's VAN codes has channel {channel!r}: add it "
            "under contact_types",
        )
    if contact_type_id in PHONE_CONTACT_TYPES:
        return NotPosted(
            "phone_required",
            f"VAN needs the phone for contact type {contact_type_id} and the data standard "
            "carries no phone numbers: send this tool's contacts through the VAN-compatible "
            "route, or let the tool write them to VAN itself",
        )
    responses, problem = _responses(contact, codes)
    if problem is not None:
        return problem
    result = contact["result"]
    context: dict[str, Any] = {
        "contactTypeId": contact_type_id,
        "inputTypeId": codes.inputs.get(contact.get("input_method") or "", API_INPUT_TYPE),
        "dateCanvassed": _iso(contact["occurred_at"]),
    }
    if skip_matching:
        context["skipMatching"] = True
    body: dict[str, Any] = {"canvassContext": context, "resultCodeId": None}
    if responses:
        if result != "canvassed":
            return NotPosted("responses_without_contact", "responses on a non-canvassed result")
        body["responses"] = responses
    else:
        result_code = codes.results.get(result)
        if result_code is None:
            return NotPosted(
                "unmapped_result",
                f"no VAN result code in the org's VAN codes means {result!r}: add it under "
                "result_codes",
            )
        body["resultCodeId"] = result_code
    return Call(person=person, body=orjson.dumps(body), mode=mode)


def _responses(
    contact: dict[str, Any], codes: ReverseCodes
) -> tuple[list[dict[str, Any]], NotPosted | None]:
    out: list[dict[str, Any]] = []
    for response in contact.get("responses") or []:
        key = (response["question_id"], response["answer"])
        ids = codes.answers.get(key)
        if ids is None:
            return out, NotPosted(
                "unmapped_response",
                f"question {key[0]!r} answer {key[1]!r} is not in the org's VAN codes: add it "
                "under survey_questions",
            )
        out.append(
            {"type": "SurveyResponse", "surveyQuestionId": ids[0], "surveyResponseId": ids[1]}
        )
    for name in contact.get("activist_codes") or []:
        ident = codes.activist_codes.get(name) or (int(name) if name.isdigit() else None)
        if ident is None:
            return out, NotPosted(
                "unmapped_activist_code",
                f"activist code {name!r} is not in the org's VAN codes: add it under "
                "activist_codes",
            )
        out.append({"type": "ActivistCode", "activistCodeId": ident, "action": "Apply"})
    return out, None


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return str(value)
