"""A source's VAN codes file, built from VAN's own lookup responses.

VAN numbers its codes per committee and publishes them through five lookups (docs.ngpvan.com):

- ``GET /v4/canvassResponses/resultCodes``   -> ``[{resultCodeId, name, mediumName, shortName}]``
- ``GET /v4/canvassResponses/contactTypes``  -> ``[{contactTypeId, name, channelTypeName}]``
- ``GET /v4/canvassResponses/inputTypes``    -> ``[{inputTypeId, name}]``
- ``GET /v4/surveyQuestions``  -> ``{items: [{surveyQuestionId, name, type, cycle, status,
  responses: [{surveyResponseId, name, ...}]}], nextPageLink, count}`` (paged)
- ``GET /v4/activistCodes``    -> ``{items: [{activistCodeId, name, type, status, ...}], ...}``

:func:`read_lookups` reads them as a data manager saved them (a folder with one file per
lookup, named as above: ``resultCodes.json`` ... ``activistCodes.json``; or one JSON object
with those five keys); :func:`build_codes` turns them into the sections of a codes file (the
format is :mod:`schemas.van_codes`) and lists what it could not map;
:func:`render_codes` writes the YAML, with every unmapped id as a comment saying what to do.

Nothing is guessed: a result code or contact type is mapped only when VAN's name is one the
standard knows (:data:`RESULT_NAMES`, :data:`CONTACT_TYPE_NAMES`, :data:`INPUT_TYPE_NAMES`);
the rest is listed as unmapped. Survey questions and activist codes are always mapped (their
names become what events carry); a support level (1-5) is read only from a "Candidate"
question whose response names start with the level ("1-Strong Walz").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

LOOKUPS = ("resultCodes", "contactTypes", "inputTypes", "surveyQuestions", "activistCodes")

# VAN result-code names (lower case, single spaces) -> (standard result, opt_out).
# VAN's names as its help pages and recorded lookups spell them (tests/data/van_api/SOURCES.md).
RESULT_NAMES: dict[str, tuple[str, bool]] = {
    "canvassed": ("canvassed", False),
    "not home": ("not_home", False),
    "refused": ("refused", False),
    "moved": ("moved", False),
    "deceased": ("deceased", False),
    "inaccessible": ("inaccessible", False),
    "language barrier": ("language_barrier", False),
    "hostile": ("hostile", False),
    "vacant": ("vacant", False),
    "lit drop": ("lit_drop", False),
    "wrong number": ("wrong_number", False),
    "busy": ("busy", False),
    "left message": ("left_message", False),
    "disconnected": ("disconnected", False),
    "deliverability error": ("deliverability_error", False),
    "do not call": ("do_not_call", True),
    "do not text": ("do_not_text", True),
}
# Names no result of the standard fits (said in the unmapped list, so nobody wonders).
RESULT_NO_FIT = {"call back", "come back", "do not walk", "do not email", "do not mail"}

# VAN contact-type names -> (channel, contact_type); None: not a voter conversation.
CONTACT_TYPE_NAMES: dict[str, tuple[str, str] | None] = {
    "phone": ("phone", "phone"),
    "walk": ("door", "walk"),
    "sms text": ("text", "sms"),
    "auto dial": ("phone", "predictive_dial"),
    "predictive dial": ("phone", "predictive_dial"),
    "robocall": None,
    "social media": None,
    "survey": None,
}
INPUT_TYPE_NAMES: dict[str, str] = {
    "api": "api",
    "bar code": "paper",
    "back end": "other",
    "auto dial": "other",
}
LEVEL = re.compile(r"^\s*([1-5])\s*[-–.:)]")


@dataclass(frozen=True)
class Unmapped:
    """One VAN id the builder did not map, and why (for the screen and the file)."""

    section: str
    van_id: int
    name: str
    why: str


@dataclass
class Built:
    """The sections of a codes file and what was left out."""

    sections: dict[str, dict[int, Any]] = field(default_factory=dict)
    unmapped: list[Unmapped] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # lookups not given


def read_lookups(path: Path) -> dict[str, Any]:
    """The saved lookup responses at ``path`` (a folder of files, or one JSON object)."""
    if path.is_dir():
        found: dict[str, Any] = {}
        for name in LOOKUPS:
            file = path / f"{name}.json"
            if file.exists():
                found[name] = _load_json(file)
        if not found:
            raise ConfigError(
                f"{path} holds none of {', '.join(n + '.json' for n in LOOKUPS)}: save VAN's "
                "lookup responses there under those names"
            )
        return found
    data = _load_json(path)
    if not isinstance(data, dict) or not set(data) & set(LOOKUPS):
        raise ConfigError(f"{path} must be a JSON object with the keys {', '.join(LOOKUPS)}")
    unknown = sorted(set(data) - set(LOOKUPS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; the lookups are {list(LOOKUPS)}")
    return dict(data)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read as JSON: {exc}") from exc


def items(lookup: str, data: Any) -> list[dict[str, Any]]:
    """A lookup's records: a plain list, one page ``{items: [...]}``, or a list of pages."""
    if isinstance(data, dict):
        data = data.get("items")
    if not isinstance(data, list):
        raise ConfigError(f"{lookup}: expected a list of records or {{'items': [...]}}")
    out: list[dict[str, Any]] = []
    for i, record in enumerate(data):
        if isinstance(record, dict) and isinstance(record.get("items"), list):
            out.extend(items(lookup, record))  # a saved page among pages
        elif isinstance(record, dict):
            out.append(record)
        else:
            raise ConfigError(f"{lookup}[{i}] must be an object")
    return out


def _key(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


def _id_name(lookup: str, record: dict[str, Any], id_field: str) -> tuple[int, str]:
    ident, name = record.get(id_field), record.get("name")
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise ConfigError(f"{lookup}: a record has {id_field} {ident!r}, not a whole number")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{lookup}: {id_field} {ident} has no name")
    return ident, name.strip()


def build_codes(lookups: dict[str, Any]) -> Built:
    """Lookup responses -> the sections of a codes file, and the ids left unmapped."""
    built = Built(missing=[n for n in LOOKUPS if n not in lookups])
    if "resultCodes" in lookups:
        section = built.sections.setdefault("result_codes", {})
        for record in items("resultCodes", lookups["resultCodes"]):
            ident, name = _id_name("resultCodes", record, "resultCodeId")
            fit = RESULT_NAMES.get(_key(name))
            if fit is None:
                why = (
                    "no result of the standard fits it"
                    if _key(name) in RESULT_NO_FIT
                    else "its name is not one fieldstream knows: map it by hand if you count it"
                )
                built.unmapped.append(Unmapped("result_codes", ident, name, why))
                continue
            entry: dict[str, Any] = {"name": name, "result": fit[0]}
            if fit[1]:
                entry["opt_out"] = True
            section[ident] = entry
    if "contactTypes" in lookups:
        section = built.sections.setdefault("contact_types", {})
        for record in items("contactTypes", lookups["contactTypes"]):
            ident, name = _id_name("contactTypes", record, "contactTypeId")
            key = _key(name)
            channel = record.get("channelTypeName")
            if key in CONTACT_TYPE_NAMES and CONTACT_TYPE_NAMES[key] is None:
                why = "not a live voter contact (no channel of the standard)"
                built.unmapped.append(Unmapped("contact_types", ident, name, why))
            elif key in CONTACT_TYPE_NAMES:
                fit_ct = CONTACT_TYPE_NAMES[key]
                assert fit_ct is not None
                section[ident] = {"name": name, "channel": fit_ct[0], "contact_type": fit_ct[1]}
            else:
                why = f"VAN's channel is {channel!r}; map it by hand if it is a door, phone or text"
                built.unmapped.append(Unmapped("contact_types", ident, name, why))
    if "inputTypes" in lookups:
        section = built.sections.setdefault("input_types", {})
        for record in items("inputTypes", lookups["inputTypes"]):
            ident, name = _id_name("inputTypes", record, "inputTypeId")
            method = INPUT_TYPE_NAMES.get(_key(name))
            if method is None:
                why = "unknown to fieldstream: bodies with it get input_method 'other'"
                built.unmapped.append(Unmapped("input_types", ident, name, why))
            else:
                section[ident] = {"name": name, "input_method": method}
    if "surveyQuestions" in lookups:
        section = built.sections.setdefault("survey_questions", {})
        records = items("surveyQuestions", lookups["surveyQuestions"])
        named = [_id_name("surveyQuestions", r, "surveyQuestionId") for r in records]
        seen = [name for _, name in named]
        for (ident, name), record in zip(named, records, strict=True):
            # events carry the name as question_id: two questions must never share one
            unique = name if seen.count(name) == 1 else f"{name} ({ident})"
            section[ident] = _question(ident, unique, record)
    if "activistCodes" in lookups:
        section = built.sections.setdefault("activist_codes", {})
        for record in items("activistCodes", lookups["activistCodes"]):
            ident, name = _id_name("activistCodes", record, "activistCodeId")
            section[ident] = name
    return built


def _question(ident: int, name: str, record: dict[str, Any]) -> dict[str, Any]:
    candidate = _key(str(record.get("type") or "")) == "candidate"
    answers: dict[int, dict[str, Any]] = {}
    for response in items(f"surveyQuestions {ident}.responses", record.get("responses") or []):
        rid, answer = _id_name(f"surveyQuestions {ident}.responses", response, "surveyResponseId")
        entry: dict[str, Any] = {"answer": answer}
        level = LEVEL.match(answer) if candidate else None
        if level:
            entry["support_level"] = int(level.group(1))
        answers[rid] = entry
    return {"name": name, "responses": answers}


def render_codes(built: Built, header: str) -> str:
    """The codes file as YAML text: the sections, then every unmapped id as a comment."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines.append("")
    for section in ("result_codes", "contact_types", "input_types"):
        if section in built.sections:
            lines.append(f"{section}:")
            for ident, entry in sorted(built.sections[section].items()):
                lines.append(f"  {ident}: {_flow(entry)}")
            lines.extend(_unmapped_comments(built, section))
            if not built.sections[section]:
                lines[lines.index(f"{section}:")] = f"{section}: {{}}"
    if "survey_questions" in built.sections:
        questions = built.sections["survey_questions"]
        lines.append("survey_questions:" if questions else "survey_questions: {}")
        for ident, question in sorted(questions.items()):
            lines.append(f"  {ident}:")
            lines.append(f"    name: {_scalar(question['name'])}")
            if not question["responses"]:
                lines.append("    responses: {}")
                continue
            lines.append("    responses:")
            for rid, answer in sorted(question["responses"].items()):
                lines.append(f"      {rid}: {_flow(answer)}")
    if "activist_codes" in built.sections:
        codes = built.sections["activist_codes"]
        lines.append("activist_codes:" if codes else "activist_codes: {}")
        for ident, name in sorted(codes.items()):
            lines.append(f"  {ident}: {_scalar(name)}")
    for lookup in built.missing:
        lines.append(f"# not built: no {lookup} lookup was given")
    return "\n".join(lines) + "\n"


def _unmapped_comments(built: Built, section: str) -> list[str]:
    rows = [u for u in built.unmapped if u.section == section]
    if not rows:
        return []
    out = ["  # Not mapped (add an entry above to count them):"]
    out += [f"  #   {u.van_id} {u.name}: {u.why}" for u in sorted(rows, key=lambda u: u.van_id)]
    return out


def _scalar(value: Any) -> str:
    """One YAML scalar, quoted where YAML would read it as something else (No, 1-5...)."""
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1 << 16, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def _flow(entry: dict[str, Any]) -> str:
    """One mapping on one line, quoted for flow context (where a comma ends a word)."""
    text: str = yaml.safe_dump(
        entry, default_flow_style=True, sort_keys=False, width=1 << 16, allow_unicode=True
    )
    return text.strip()
