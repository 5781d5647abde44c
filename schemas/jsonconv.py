"""Canonical events as plain JSON -> Avro-ready ContactEvent records, naming every problem.

Driven by the parsed .avsc (compiled once into small converter closures), so the JSON a
sender posts follows the data standard field for field: records, nullable unions, enums
(the allowed symbols are named), arrays, strings, ints, booleans, and timestamp-millis given
as ISO-8601 with a zone or as epoch milliseconds. Fields with a default may be left out;
unknown fields are problems. The bounds are the standard's too: ints and longs in their Avro
range, strings no longer than a field's ``maxLength`` and arrays no longer than its
``maxItems`` (attributes of the .avsc field), and every timestamp from 2000-01-01 to the time
the event was received plus ``max_future_s``. fastavro validates Avro datums but neither
collects every problem with its path nor reads ISO timestamps, hence this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.codec import CONTACT_EVENT, load_schemas
from schemas.ids import event_id_for


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str


Problems = list[Problem]
Conv = Callable[[Any, str, Problems], Any]
SET_BY_GATEWAY = {
    "event_id": "is set by fieldstream from org_id, source_system and source_event_id; "
    "send source_event_id instead",
    "received_at": "is set by fieldstream when the event arrives; leave it out",
    "van_request": "is set by fieldstream's VAN-compatible route only; leave it out",
}
EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: no contact of a field program is older
INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
NON_EMPTY = ("source_system", "source_event_id", "org_id", "campaign_id", "result_raw")
PERSON_IDS = ("voter_id", "van_id", "state_file_id", "vendor_id")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _string(value: Any, path: str, problems: Problems) -> Any:
    if isinstance(value, str):
        return value
    problems.append(Problem(path, f"must be a string, got {_kind(value)}"))
    return None


def _integer(kind: str) -> Conv:
    low, high = INT_RANGES[kind]

    def convert(value: Any, path: str, problems: Problems) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if low <= value <= high:
                return value
            problems.append(Problem(path, f"must be between {low} and {high}"))
            return None
        problems.append(Problem(path, f"must be an integer, got {_kind(value)}"))
        return None

    return convert


def _double(value: Any, path: str, problems: Problems) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    problems.append(Problem(path, f"must be a number, got {_kind(value)}"))
    return None


def _boolean(value: Any, path: str, problems: Problems) -> Any:
    if isinstance(value, bool):
        return value
    problems.append(Problem(path, f"must be true or false, got {_kind(value)}"))
    return None


def _timestamp_ms(value: Any, path: str, problems: Problems) -> Any:
    """Epoch milliseconds; the window (2000-01-01 to receipt + the allowed future) is checked
    once the receive time is known (ContactJson.convert)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            try:  # exact: float seconds * 1000 can lose a millisecond (8479828.733 -> ...732)
                return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)
            except (OverflowError, ValueError):  # year 1 with a zone east of UTC
                pass
    problems.append(
        Problem(
            path,
            "must be an ISO-8601 timestamp with a time zone "
            "(e.g. 2026-11-24T15:04:05Z) or epoch milliseconds",
        )
    )
    return None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _compile(schema: Any) -> Conv:
    if isinstance(schema, list):
        return _compile_union(schema)
    if isinstance(schema, str):
        return {
            "string": _string,
            "int": _integer("int"),
            "long": _integer("long"),
            "boolean": _boolean,
            "double": _double,
            "float": _double,
        }[schema]
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return _timestamp_ms
    if kind == "record":
        return _compile_record(schema)
    if kind == "enum":
        return _compile_enum(schema["symbols"])
    if kind == "array":
        return _compile_array(_compile(schema["items"]))
    return _compile(kind)


def _compile_union(branches: list[Any]) -> Conv:
    others = [b for b in branches if b != "null"]
    if len(others) != 1 or "null" not in branches:
        raise ValueError(f"only [null, X] unions are supported, got {branches}")
    inner = _compile(others[0])

    def convert(value: Any, path: str, problems: Problems) -> Any:
        return None if value is None else inner(value, path, problems)

    return convert


def _compile_enum(symbols: list[str]) -> Conv:
    allowed = frozenset(symbols)
    listed = ", ".join(symbols)

    def convert(value: Any, path: str, problems: Problems) -> Any:
        if isinstance(value, str) and value in allowed:
            return value
        problems.append(Problem(path, f"must be one of {listed}; got {value!r}"))
        return None

    return convert


def _compile_array(item: Conv) -> Conv:
    def convert(value: Any, path: str, problems: Problems) -> Any:
        if not isinstance(value, list):
            problems.append(Problem(path, f"must be an array, got {_kind(value)}"))
            return None
        return [item(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]

    return convert


def _bounded(conv: Conv, max_length: int | None, max_items: int | None) -> Conv:
    """``conv`` with the field's bounds: at most ``max_items`` items (checked first, so a huge
    array is not converted), each string (or the string) at most ``max_length`` characters."""
    if max_length is None and max_items is None:
        return conv

    def convert(value: Any, path: str, problems: Problems) -> Any:
        if max_items is not None and isinstance(value, list) and len(value) > max_items:
            problems.append(Problem(path, f"has {len(value)} items; at most {max_items}"))
            return None
        out = conv(value, path, problems)
        if max_length is not None:
            strings = out if isinstance(out, list) else [out]
            for i, s in enumerate(strings):
                if isinstance(s, str) and len(s) > max_length:
                    where = f"{path}[{i}]" if isinstance(out, list) else path
                    problems.append(Problem(where, f"is {len(s)} characters; at most {max_length}"))
        return out

    return convert


_MISSING = object()


def _compile_record(schema: dict[str, Any]) -> Conv:
    fields = []
    for f in schema["fields"]:
        has_default = "default" in f
        conv = _bounded(_compile(f["type"]), f.get("maxLength"), f.get("maxItems"))
        fields.append((f["name"], conv, has_default, f.get("default")))
    known = frozenset(name for name, *_ in fields)

    def convert(value: Any, path: str, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.append(Problem(path or "(event)", f"must be an object, got {_kind(value)}"))
            return None
        out: dict[str, Any] = {}
        for name, conv, has_default, default in fields:
            raw = value.get(name, _MISSING)
            if raw is _MISSING:
                if has_default:
                    out[name] = list(default) if isinstance(default, list) else default
                else:
                    out[name] = None
                    problems.append(Problem(_join(path, name), "is required"))
                continue
            out[name] = conv(raw, _join(path, name), problems)
        for extra in value.keys() - known:
            problems.append(Problem(_join(path, str(extra)), "is not a field of the standard"))
        return out

    return convert


class ContactJson:
    """Converter for ContactEvent JSON, compiled once from the schema. ``max_future_s``: how
    far past its receipt an event's time may be (gateway.max_future_s)."""

    def __init__(self, max_future_s: int = 86_400) -> None:
        schema = load_schemas()[CONTACT_EVENT]
        self._schema = schema
        self._convert = _compile(schema)
        self.max_future_ms = max_future_s * 1000
        self._times = time_fields(schema)

    def convert(self, value: Any, received_at_ms: int) -> tuple[dict[str, Any] | None, Problems]:
        """(record, []) for a good event; (None, problems) otherwise."""
        problems: Problems = []
        record = self._convert(as_received(value, received_at_ms, problems), "", problems)
        if record is not None:
            check_times(record, self._times, received_at_ms, self.max_future_ms, problems)
            _check_rules(record, problems)
        if problems:
            return None, problems
        return with_event_id(record), problems


def as_received(value: Any, received_at_ms: int, problems: Problems) -> Any:
    """A sender's record as the gateway takes it: each field only the gateway sets that the
    sender sent is a problem, and is replaced (``received_at`` the receipt; ``event_id`` empty
    until :func:`with_event_id`)."""
    if not isinstance(value, dict):
        return value
    for name, why in SET_BY_GATEWAY.items():
        if name in value:
            problems.append(Problem(name, why))
    value = {k: v for k, v in value.items() if k not in SET_BY_GATEWAY}
    value.update(event_id="", received_at=received_at_ms)
    return value


def with_event_id(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its event id: the UUIDv5 of org, source system and source_event_id, so
    the same record sent twice keeps its id."""
    record["event_id"] = event_id_for(
        record["org_id"], record["source_system"], record["source_event_id"]
    )
    return record


def time_fields(schema: dict[str, Any]) -> list[str]:
    """The top-level timestamp-millis fields of a record schema (nullable ones included)."""
    out = []
    for f in schema["fields"]:
        kinds = f["type"] if isinstance(f["type"], list) else [f["type"]]
        if any(isinstance(k, dict) and k.get("logicalType") == "timestamp-millis" for k in kinds):
            out.append(f["name"])
    return out


def check_times(
    record: dict[str, Any], names: list[str], received_ms: int, future_ms: int, problems: Problems
) -> None:
    """Each of ``names`` from 2000-01-01 to ``received_ms + future_ms``, or a problem."""
    latest = received_ms + future_ms
    for name in names:
        at = record.get(name)
        if isinstance(at, int) and not EARLIEST_MS <= at <= latest:
            problems.append(
                Problem(
                    name,
                    f"must be between 2000-01-01 and {_iso(latest)} (receipt plus "
                    f"{future_ms // 1000} s); got {_iso(at)}",
                )
            )


def _iso(ms: int) -> str:
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms since 1970"


def _check_rules(record: dict[str, Any], problems: Problems) -> None:
    """Rules of the standard that a schema cannot say."""
    for name in NON_EMPTY:
        if record.get(name) == "":
            problems.append(Problem(name, "must not be empty"))
    check_person(record.get("person"), problems)
    location = record.get("location")
    if isinstance(location, dict):
        for name, bound in (("lat", 90.0), ("lon", 180.0)):
            value = location.get(name)
            if isinstance(value, float) and not -bound <= value <= bound:
                problems.append(
                    Problem(f"location.{name}", f"must be between -{bound:g} and {bound:g}")
                )
        accuracy = location.get("accuracy_m")
        if isinstance(accuracy, float) and accuracy < 0:
            problems.append(Problem("location.accuracy_m", "must not be negative"))
    duration = record.get("call_duration_s")
    if isinstance(duration, int) and duration < 0:
        problems.append(Problem("call_duration_s", "must not be negative"))
    for i, response in enumerate(record.get("responses") or []):
        level = response.get("support_level") if isinstance(response, dict) else None
        if isinstance(level, int) and not 1 <= level <= 5:
            problems.append(
                Problem(f"responses[{i}].support_level", "must be 1 (strong support) to 5")
            )


def check_person(person: Any, problems: Problems, *, ids_required: bool = True) -> None:
    """The PersonRef rules: an id (unless ``ids_required`` is off), a two-letter upper-case
    state, a state with every voter_id."""
    if isinstance(person, dict):
        if ids_required and not any(person.get(k) for k in PERSON_IDS):
            problems.append(
                Problem(
                    "person", "needs at least one of voter_id, van_id, state_file_id, vendor_id"
                )
            )
        state = person.get("state")
        if isinstance(state, str):
            state = person["state"] = state.upper()
            if len(state) != 2 or not state.isalpha():
                problems.append(Problem("person.state", "must be a two-letter state code"))
        if person.get("voter_id") and not state:
            problems.append(Problem("person.state", "is required with voter_id"))


def record_json(record: dict[str, Any]) -> dict[str, Any]:
    """A decoded ContactEvent as the standard's JSON a sender posts (the inverse of
    :meth:`ContactJson.convert`): event_id and received_at left out (fieldstream sets them),
    timestamps as ISO-8601 UTC, null optionals dropped. Converting it again with the same
    receive time gives the same record and the same event id."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name in SET_BY_GATEWAY or value is None:
            continue
        out[name] = _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return str(value)  # a UUID
