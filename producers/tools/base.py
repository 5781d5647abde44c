"""What every tool adapter shares: its context, its result, its errors.

An adapter is a pure function ``adapt(payload, ctx) -> list[Item]``: one tool's payload (the
parsed JSON, or one CSV row as a dict) in, zero or more items out. An item is either

- a canonical event as plain JSON, exactly what a sender would post to ``/v1/events``
  (``event_id`` and ``received_at`` left out: the gateway or importer sets them), or
- an :class:`Unmapped`: the payload is well formed but names a code the source's code map
  does not know. It is not guessed: the caller sends it to the dead-letter topic with the
  reason, so a data manager can add the code and replay it. When only some survey responses
  are unknown (the result and channel map), the Unmapped carries the contact as far as the
  map reads it (``partial``): the intake hallway counts it, unless the source holds partial
  contacts, and keeps the dead letter so a replay can fill the answers in;
- a :class:`Signal` (a PersonSignal: an activist code or tag applied or removed, an opt-in or
  opt-out) or a :class:`Shift` (one state of a volunteer's shift sign-up), in the standard's
  JSON form: facts that are not contact attempts (producers/tools/records.py builds them).

A payload that is not what the tool documents raises :class:`PayloadError` naming the field,
or every field that is wrong (:class:`Problems` collects them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigError, InputError
from schemas.codec import CONTACT_EVENT, enum_symbols

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from core.config import SourceConfig
    from core.settings import GatewaySettings, VanSettings


class PayloadError(InputError):
    """The tool's payload is malformed; the message names the field and what is wrong (every
    field, when more than one is: ``problems``)."""

    def __init__(self, field_path: str, problem: str, more: Sequence[tuple[str, str]] = ()) -> None:
        self.problems: list[tuple[str, str]] = [(field_path, problem), *more]
        super().__init__("; ".join(f"{f}: {p}" for f, p in self.problems))
        self.field = field_path
        self.problem = problem

    def as_dicts(self) -> list[dict[str, Any]]:
        """The problems as a gateway refusal lists them."""
        return [{"index": 0, "field": f, "problem": p} for f, p in self.problems]


class Problems:
    """Collects every PayloadError of one payload, so a refusal names all of them::

    found = Problems()
    when = found.check(timestamp, value, "dateCanvassed")
    ...
    found.raise_any()
    """

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def check(self, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``read(*args, **kwargs)``, or None after noting its PayloadError."""
        try:
            return read(*args, **kwargs)
        except PayloadError as exc:
            self.found.extend(exc.problems)
            return None

    def raise_any(self) -> None:
        if self.found:
            (field_path, problem), *more = self.found
            raise PayloadError(field_path, problem, more)


class SignatureError(InputError):
    """A webhook's signature, timestamp or id does not check out (the reason says which)."""


@dataclass(frozen=True)
class Unmapped:
    """A well-formed payload whose code the source's map does not know: for the DLQ."""

    reason_code: str  # stable, for example unknown_result_code
    reason: str  # names the code and the source, never personal data
    source_event_id: str | None = None
    campaign_id: str | None = None
    partial: dict[str, Any] | None = None
    """The contact as far as the map reads it, when only survey responses are unknown: a
    canonical event whose ``unmapped_responses`` keep the tool's own ids. Counted unless the
    source holds partial contacts (``partial_contacts: hold``)."""


@dataclass(frozen=True)
class Signal:
    """A PersonSignal (JSON form) an adapter read from a payload: never an attempt."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Shift:
    """A VolunteerShift (JSON form) an adapter read from a payload: never a contact."""

    record: dict[str, Any]


Item = dict[str, Any] | Unmapped | Signal | Shift


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter knows besides the payload: the source the payload came through."""

    source_id: str
    org_id: str
    source_system: str  # the tool: van, spoke, callhub, hustle, mobilize, csv...
    campaign_id: str | None = None  # for tools whose payloads do not name a campaign
    state: str | None = None  # the voter-file state of the voter ids the tool sends
    options: dict[str, Any] = field(default_factory=dict)  # tool-specific (code maps...)
    # when the gateway received the payload (ISO UTC), per request: a stand-in for tools that
    # send no time of their own; importers leave it None (a re-import must not change ids)
    received_at: str | None = None

    def campaign(self, given: Any = None) -> str:
        """The payload's campaign if it names one, else the source's; else a PayloadError."""
        if isinstance(given, str) and given.strip():
            return given.strip()
        if self.campaign_id:
            return self.campaign_id
        raise PayloadError(
            "campaign_id",
            f"the payload names no campaign and source {self.source_id!r} has no campaign_id "
            "set in sources.yaml",
        )


def require(payload: Any, path: str, kind: type | tuple[type, ...] = str) -> Any:
    """``payload[a][b]`` for ``path`` "a.b", of type ``kind``, else a PayloadError."""
    value = payload
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if not isinstance(value, dict) or part not in value or value[part] is None:
            raise PayloadError(".".join(walked), "is missing")
        value = value[part]
    if isinstance(value, bool) and kind is not bool:
        raise PayloadError(path, f"must be {_names(kind)}, got true/false")
    if not isinstance(value, kind):
        raise PayloadError(path, f"must be {_names(kind)}, got {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise PayloadError(path, "is empty")
    return value


def optional(payload: Any, path: str, kind: type | tuple[type, ...] = str) -> Any:
    """Like :func:`require`, but None when the field is absent or null."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            return None
        value = value[part]
    if value == "":
        return None
    try:
        return require({"v": value}, "v", kind)
    except PayloadError as exc:
        raise PayloadError(path, exc.problem) from None


def timestamp(value: Any, path: str, *, assume_tz: dt.tzinfo = dt.UTC) -> str:
    """An ISO-8601 UTC timestamp from the forms tools send: ISO with or without zone (a naive
    time is read in ``assume_tz``), epoch seconds or epoch milliseconds."""
    if isinstance(value, bool):
        raise PayloadError(path, "must be a timestamp, got true/false")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()
        except (ValueError, OverflowError, OSError):
            raise PayloadError(path, f"is not a time fieldstream can read: {value!r}") from None
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=assume_tz)
            return parsed.astimezone(dt.UTC).isoformat()
        except (ValueError, OverflowError):  # not ISO, or off the calendar once in UTC
            raise PayloadError(path, f"is not an ISO-8601 timestamp: {value[:40]!r}") from None
    raise PayloadError(path, "is missing" if value is None else "must be a timestamp")


def digits(value: str) -> bool:
    """Whether ``value`` is ASCII digits only: ``str.isdigit`` also takes "²" and "١٢٣",
    which no tool's numeric id is (and ``int()`` refuses some of them)."""
    return value.isascii() and value.isdigit()


PERSON_TARGETS = ("van_id", "voter_id", "state_file_id", "vendor_id")  # what a tool id can be


def person_target(ctx: AdapterContext, option: str, default: str = "van_id") -> str:
    """The person id field the source's ``option`` names; ConfigError unless one of
    :data:`PERSON_TARGETS`."""
    target = ctx.options.get(option, default)
    if target not in PERSON_TARGETS:
        raise ConfigError(
            f"source {ctx.source_id!r}: option {option} is {target!r}; it must be one of "
            f"{', '.join(PERSON_TARGETS)}"
        )
    return str(target)


def person_ref(ctx: AdapterContext, target: str, value: str, read_as: str) -> dict[str, str]:
    """``{target: value}``; a voter_id takes the source's state (a ConfigError when the source
    has none). ``read_as`` names the tool's field in that error."""
    if target != "voter_id":
        return {target: value}
    if not ctx.state:
        raise ConfigError(
            f"source {ctx.source_id!r} reads {read_as} as voter_id but has no state set in "
            "sources.yaml"
        )
    return {"voter_id": value, "state": ctx.state}


def zone(name: Any, error: str) -> ZoneInfo:
    """The IANA time zone ``name``; a ConfigError with the message ``error`` when there is
    no zone by that name."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(error) from None


def strptime_utc(value: str, formats: Sequence[str], assume_tz: dt.tzinfo) -> str | None:
    """``value`` read with the first of the strptime ``formats`` that fits (a naive time is in
    ``assume_tz``), as an ISO-8601 UTC timestamp; None when no format fits."""
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=assume_tz)
        return parsed.astimezone(dt.UTC).isoformat()
    return None


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {str: "a string", int: "an integer", float: "a number", dict: "an object"}
    words |= {list: "an array", bool: "true or false"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def canonical(
    ctx: AdapterContext,
    *,
    source_event_id: str,
    campaign_id: str,
    channel: str,
    occurred_at: str,
    person: dict[str, str],
    result: str,
    result_raw: str,
    **optional_fields: Any,
) -> dict[str, Any]:
    """A canonical event in the data standard's JSON form; None-valued optionals left out."""
    event: dict[str, Any] = {
        "source_system": ctx.source_system,
        "source_event_id": source_event_id,
        "org_id": ctx.org_id,
        "campaign_id": campaign_id,
        "channel": channel,
        "occurred_at": occurred_at,
        "person": {k: v for k, v in person.items() if v},
        "result": result,
        "result_raw": result_raw,
    }
    event.update({k: v for k, v in optional_fields.items() if v is not None})
    return event


@cache
def contact_codes() -> dict[str, frozenset[str]]:
    """The standard's coded fields (channel, contact_type, input_method, result) and their
    allowed codes, read from ContactEvent.avsc: the one list every code map is checked against."""
    return {name: frozenset(symbols) for name, symbols in enum_symbols(CONTACT_EVENT).items()}


Adapter = Callable[[Any, AdapterContext], list[Item]]
"""``adapt(payload, ctx) -> items``: one tool payload (or export row) in."""
Readmit = Callable[[Any, AdapterContext, str | None], tuple[list[Item], dict[str, Any] | None]]
"""``readmit(kept, ctx, received_at) -> (items, attach)``: a route's kept request, adapted
again, with the fields the route attaches to its events (VAN: ``van_request``), if any."""
Verifier = Callable[[Mapping[str, str], bytes, Sequence[str], float], None]
"""``verify(headers, body, secrets, now)``: the tool's own webhook signature check; raises
SignatureError."""


@dataclass(frozen=True)
class ToolRoute:
    """A route of a tool's own API shape on the gateway: its path, its handler (which may raise
    the gateway's refusal), and how a refusal is written in the tool's own error shape."""

    path: str
    handle: Callable[[Request], Awaitable[Response]]
    respond: Callable[[Any], Response]


@dataclass(frozen=True)
class RouteContext:
    """What a tool's route is built from: the sources, the gateway's intake (the one intake
    hallway behind it) and the settings a route may need."""

    sources: Any  # producers.gateway.sources.SourceBook: the live sources, read per request
    intake: Any  # producers.gateway.intake.Intake (the gateway imports the tools, not back)
    gateway: GatewaySettings
    van: VanSettings


RouteFactory = Callable[[RouteContext], ToolRoute]
"""``route(context) -> ToolRoute``."""


@dataclass(frozen=True)
class Tool:
    """What one field tool is to fieldstream: each tool's folder under producers/tools/ exposes
    one as ``TOOL``; the registry, the source checks, the docs generator and the gateway's
    routes read these records and nothing else."""

    name: str
    """The ``tool:`` of a source in sources.yaml, and the events' source_system."""
    title: str
    """How the docs name it."""
    hook: Adapter | None = None
    """Its webhook payloads' adapter (``POST /v1/hooks/{source}``)."""
    verify: Verifier | None = None
    """Its own webhook signature scheme, used when a source has signing_secrets."""
    scrub: tuple[str, ...] = ()
    """Top-level payload keys a dead letter never keeps (secrets the tool should not send)."""
    route: RouteFactory | None = None
    """A route of the tool's own API shape (VAN's canvassResponses), if it has one."""
    prepare: Callable[[SourceConfig, dict[str, Any]], None] | None = None
    """Fills a source's adapter options once (VAN: its code map); may raise ConfigError."""
    result_map: Mapping[Any, str] | None = None
    """Tool code -> result, for the generated docs/result-codes.md."""
    result_keys: str = ""
    """What the result map's keys are, in the docs' words."""
    result_doc: str = ""
    """One paragraph for the docs about how its results map."""
    confirm_header: str | None = None
    """A response header echoing the source's ``account_id`` option (Hustle's URL check)."""
    readmit: Readmit | None = None
    """Adapts again what its route kept of a request (VAN: the path and body), for a replay of
    its dead letters; without one, a replay passes the kept payload to ``hook``."""
    import_adapter: Callable[[dict[str, Any]], Adapter] | None = None
    """The row adapter of one of its imports, rebuilt from the import's recorded spec
    (producers/importers/runner.py import_spec) with the maps as they are now, for a replay."""
