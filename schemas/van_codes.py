"""VAN code maps: a committee's numeric VAN ids -> the data standard's codes.

On the floor (beside the standard it maps onto) because two stages read the same file: the
VAN tool (producers/) and the write-back to VAN (sinks/), which reads it backwards.

VAN numbers its result codes, contact types, input types, survey questions (and their
responses) and activist codes per committee (``GET /v4/canvassResponses/resultCodes``,
``/contactTypes``, ``/inputTypes``, ``/v4/surveyQuestions``, ``/v4/activistCodes``: see
docs.ngpvan.com). So every VAN-compatible source can have its own YAML file that the data
manager edits; :func:`load_codes` reads it over the defaults in ``van_default_codes.yaml``
(entry by entry: an id in the source file replaces the default entry with that id).

File layout (every section optional; ids are VAN's integers)::

    default_contact_type_id: 37        # used when a body has no canvassContext.contactTypeId
    result_codes:
      1: {name: Not Home, result: not_home}
      22: {name: Do Not Call, result: do_not_call, opt_out: true}
    contact_types:
      37: {name: SMS Text, channel: text, contact_type: sms}
    input_types:
      11: {name: API, input_method: api}
    survey_questions:
      378552:
        name: 2020VotePPE              # the question_id events carry (default: the VAN id)
        responses:
          1555791: {answer: Yes - Early}
          1555795: {answer: "No", support_level: 5}   # quote No/Yes/On/Off in YAML
    activist_codes:
      4482459: EdayIssue-PollWorker

A malformed file raises :class:`core.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from schemas.codec import CONTACT_EVENT, enum_symbols

DEFAULTS_PATH = Path(__file__).with_name("van_default_codes.yaml")
SECTIONS = (
    "result_codes",
    "contact_types",
    "input_types",
    "survey_questions",
    "activist_codes",
)


@dataclass(frozen=True)
class ResultCode:
    name: str
    result: str  # a ResultCode symbol of the standard
    opt_out: bool = False


@dataclass(frozen=True)
class ContactType:
    name: str
    channel: str  # door | phone | text
    contact_type: str  # a ContactType symbol of the standard


@dataclass(frozen=True)
class InputType:
    name: str
    input_method: str  # an InputMethod symbol of the standard


@dataclass(frozen=True)
class Answer:
    answer: str
    support_level: int | None = None  # 1 strong support .. 5 strong oppose


@dataclass(frozen=True)
class SurveyQuestion:
    question_id: str  # what events carry as responses[].question_id
    responses: dict[int, Answer] = field(default_factory=dict)


@dataclass(frozen=True)
class VanCodes:
    """One source's VAN code maps (defaults merged with the source's file)."""

    result_codes: dict[int, ResultCode]
    contact_types: dict[int, ContactType]
    input_types: dict[int, InputType]
    survey_questions: dict[int, SurveyQuestion]
    activist_codes: dict[int, str]
    default_contact_type_id: int | None = None
    file: str | None = None  # the source's codes file, named in Unmapped reasons

    def where(self) -> str:
        """Where a data manager adds a missing code."""
        return self.file or f"a VAN codes file for the source (defaults: {DEFAULTS_PATH.name})"

    def describe(self) -> dict[str, Any]:
        """Plain JSON-ready data for generated docs: {section: {id: {...}}}."""
        out: dict[str, Any] = {"default_contact_type_id": self.default_contact_type_id}
        for name in SECTIONS:
            section: dict[int, Any] = getattr(self, name)
            out[name] = {
                str(k): (asdict(v) if not isinstance(v, str) else v) for k, v in section.items()
            }
        return json.loads(json.dumps(out))


def load_codes(path: str | Path | None = None) -> VanCodes:
    """The defaults, with the source's file at ``path`` (if any) merged over them."""
    raw = _read(DEFAULTS_PATH)
    if path is not None:
        for key, value in _read(Path(path)).items():
            if isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
    where = str(path) if path is not None else str(DEFAULTS_PATH)
    return replace(_parse(raw, where), file=str(path) if path is not None else None)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"VAN codes file {path} does not exist") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"VAN codes file {path} cannot be read as YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"VAN codes file {path} must be a mapping of sections")
    unknown = sorted(str(k) for k in data if k not in (*SECTIONS, "default_contact_type_id"))
    if unknown:
        raise ConfigError(
            f"VAN codes file {path}: unknown key(s) {unknown}; the sections are "
            f"{', '.join(SECTIONS)} and default_contact_type_id"
        )
    return {k: _section(data, k, path) for k in data}


def _section(data: dict[str, Any], key: str, path: Path) -> Any:
    value = data[key]
    if key == "default_contact_type_id":
        return value
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"VAN codes file {path}: {key} must be a mapping of VAN id -> entry")
    return {_id(k, f"{key}.{k}", str(path)): v for k, v in value.items()}


def _id(key: Any, where: str, file: str) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.strip().isascii() and key.strip().isdigit():
        return int(key)
    raise ConfigError(f"VAN codes file {file}: {where}: VAN ids are whole numbers")


class _Entry:
    """Typed reads of one mapping entry, naming the key on every problem."""

    def __init__(self, value: Any, where: str, file: str) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"VAN codes file {file}: {where} must be a mapping")
        self.value, self.where, self.file = value, where, file

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"VAN codes file {self.file}: {self.where}.{key} {problem}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.value.get(key, default)
        if not isinstance(value, str) or not value.strip():
            hint = " (quote words like No/Yes/On/Off in YAML)" if isinstance(value, bool) else ""
            raise self.fail(key, f"must be text, got {value!r}{hint}")
        return value.strip()

    def symbol(self, key: str, enum_field: str, default: str | None = None) -> str:
        value = self.text(key, default)
        allowed = frozenset(enum_symbols(CONTACT_EVENT)[enum_field])
        if value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(sorted(allowed))}; got {value!r}")
        return value


def _parse(raw: dict[str, Any], file: str) -> VanCodes:
    results, contacts, inputs, questions, activists = {}, {}, {}, {}, {}
    for code, value in (raw.get("result_codes") or {}).items():
        e = _Entry(value, f"result_codes.{code}", file)
        opt_out = value.get("opt_out", False)
        if not isinstance(opt_out, bool):
            raise e.fail("opt_out", "must be true or false")
        results[code] = ResultCode(e.text("name"), e.symbol("result", "result"), opt_out)
    for code, value in (raw.get("contact_types") or {}).items():
        e = _Entry(value, f"contact_types.{code}", file)
        contacts[code] = ContactType(
            e.text("name"), e.symbol("channel", "channel"), e.symbol("contact_type", "contact_type")
        )
    for code, value in (raw.get("input_types") or {}).items():
        e = _Entry(value, f"input_types.{code}", file)
        inputs[code] = InputType(e.text("name"), e.symbol("input_method", "input_method"))
    for code, value in (raw.get("survey_questions") or {}).items():
        questions[code] = _question(code, value, file)
    for code, value in (raw.get("activist_codes") or {}).items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"VAN codes file {file}: activist_codes.{code} must be its name")
        activists[code] = value.strip()
    default = raw.get("default_contact_type_id")
    if default is not None:
        default = _id(default, "default_contact_type_id", file)
        if default not in contacts:
            raise ConfigError(
                f"VAN codes file {file}: default_contact_type_id {default} is not under "
                "contact_types"
            )
    return VanCodes(results, contacts, inputs, questions, activists, default)


def _question(code: int, value: Any, file: str) -> SurveyQuestion:
    where = f"survey_questions.{code}"
    e = _Entry(value, where, file)
    name = e.text("name", str(code))
    responses = value.get("responses") or {}
    if not isinstance(responses, dict):
        raise e.fail("responses", "must be a mapping of surveyResponseId -> {answer: ...}")
    answers: dict[int, Answer] = {}
    for rid, rvalue in responses.items():
        rid_int = _id(rid, f"{where}.responses.{rid}", file)
        r = _Entry(rvalue, f"{where}.responses.{rid}", file)
        level = rvalue.get("support_level")
        if level is not None and (
            not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5
        ):
            raise r.fail("support_level", "must be 1 (strong support) to 5 (strong oppose)")
        answers[rid_int] = Answer(r.text("answer"), level)
    return SurveyQuestion(name, answers)
