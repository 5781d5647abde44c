"""Any tool's CSV export -> canonical events, driven by a mapping YAML a data manager writes.

A mapping names, for each canonical field, the CSV column that feeds it (``columns``), how
the file's own codes map to the standard's (``values``: result, channel, contact_type,
input_method), fields that are the same on every row (``constants``), how dates are written
(``date_format``, strptime; ISO-8601 when absent) and in which zone naive times are
(``timezone``), and the column(s) whose values identify a contact (``id_columns``: joined with
"|" into source_event_id, so a re-import gives the same event ids)::

    source_system: door-app          # optional; default "csv"
    id_columns: [AttemptID]
    columns:
      occurred_at: Attempted At
      result: Outcome
      person.van_id: VANID
      canvasser_id: Volunteer ID
    values:
      result: {Talked: canvassed, NH: not_home, Refused: refused}
    constants: {channel: door, campaign_id: gotv-2026, input_method: bulk_import}
    date_format: "%m/%d/%Y %H:%M"
    timezone: America/New_York

A result or channel value that is neither in ``values`` nor a canonical code -> Unmapped (sent
to the DLQ, reason names the column and the code). A bad mapping file -> ConfigError naming
the key. The file format itself is ours: there is no external document to cite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from core.settings import KafkaSettings
from producers.importers import checkpoint as cp
from producers.importers.runner import ImportSummary, import_context, import_csv, import_spec
from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Unmapped,
    canonical,
    contact_codes,
    strptime_utc,
    timestamp,
    zone,
)

TOP_KEYS = {"source_system", "id_columns", "columns", "values", "constants"}
TOP_KEYS |= {"date_format", "timezone"}
PERSON_FIELDS: tuple[str, ...] = ("person.voter_id", "person.state", "person.van_id")
PERSON_FIELDS += ("person.state_file_id", "person.vendor_id")
TEXT_FIELDS: tuple[str, ...] = ("campaign_id", "program_id", "canvasser_id", "team_id")
TEXT_FIELDS += ("turf_id", "list_id", "shift_id", "reached")  # shift, reached: standard 1.1
NUMBER_FIELDS = ("location.lat", "location.lon", "location.accuracy_m", "call_duration_s")
CODED_FIELDS = ("channel", "result", "contact_type", "input_method")
FIELDS = ("occurred_at", "result_raw", *CODED_FIELDS, *TEXT_FIELDS, *PERSON_FIELDS)
FIELDS += NUMBER_FIELDS


SYMBOLS = contact_codes()  # channel, contact_type, input_method, result -> allowed codes


@dataclass(frozen=True)
class CsvMapping:
    id_columns: tuple[str, ...]
    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    source_system: str = "csv"
    date_format: str | None = None
    timezone: dt.tzinfo = dt.UTC


def load_mapping(path: Path) -> CsvMapping:
    """Read and check a mapping YAML; ConfigError names the key that is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"mapping file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"mapping file {path} is not valid YAML: {exc}") from exc
    return parse_mapping(data, str(path))


def parse_mapping(data: Any, where: str = "mapping") -> CsvMapping:
    """Check a parsed mapping document (see the module doc); ConfigError names the key."""

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {problem}")

    if not isinstance(data, dict):
        raise fail("(top)", "must be a mapping of keys (id_columns, columns, ...)")
    for key in sorted(set(data) - TOP_KEYS):
        raise fail(str(key), f"is not a mapping key; known: {', '.join(sorted(TOP_KEYS))}")
    ids = data.get("id_columns")
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not ids or not all(isinstance(c, str) and c for c in ids):
        raise fail("id_columns", "must list the column(s) that identify a contact")
    columns = _str_map(data.get("columns") or {}, "columns", fail)
    constants = _str_map(data.get("constants") or {}, "constants", fail)
    for section, names in (("columns", columns), ("constants", constants)):
        for name in names:
            if name not in FIELDS:
                raise fail(f"{section}.{name}", f"is not a field; known: {', '.join(FIELDS)}")
    values_raw = data.get("values") or {}
    if not isinstance(values_raw, dict):
        raise fail("values", "must map a field (result, channel...) to {code: canonical}")
    values: dict[str, dict[str, str]] = {}
    for name, table in values_raw.items():
        if name not in CODED_FIELDS:
            raise fail(f"values.{name}", f"only {', '.join(CODED_FIELDS)} take value maps")
        values[name] = _str_map(table or {}, f"values.{name}", fail)
        for code, target in values[name].items():
            if target not in SYMBOLS[name]:
                allowed = ", ".join(sorted(SYMBOLS[name]))
                raise fail(f"values.{name}.{code}", f"{target!r} is not one of {allowed}")
    for name in CODED_FIELDS:
        if name in constants and constants[name] not in SYMBOLS[name]:
            raise fail(f"constants.{name}", f"{constants[name]!r} is not a {name} code")
    for need in ("occurred_at", "result", "channel"):
        if need not in columns and need not in constants:
            raise fail(f"columns.{need}", "is required (or a constant)")
    if not any(p in columns or p in constants for p in PERSON_FIELDS if p != "person.state"):
        raise fail("columns.person", "map at least one of person.voter_id/van_id/...")
    tz: dt.tzinfo = dt.UTC
    if data.get("timezone") is not None:
        name = data["timezone"]
        tz = zone(name, str(fail("timezone", f"{name!r} is not a time zone name")))
    date_format = data.get("date_format")
    if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
        raise fail("date_format", "must be a strptime format such as '%m/%d/%Y %H:%M'")
    source_system = data.get("source_system", "csv")
    if not isinstance(source_system, str) or not source_system.strip():
        raise fail("source_system", "must be a non-empty name")
    return CsvMapping(tuple(ids), columns, values, constants, source_system, date_format, tz)


def _str_map(value: Any, key: str, fail: Callable[[str, str], ConfigError]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail(key, "must be a mapping")
    out: dict[str, str] = {}
    for k, v in value.items():
        if v is None or isinstance(v, dict | list):
            raise fail(f"{key}.{k}", "must be a single value")
        out[str(k)] = str(v)
    return out


def adapt(row: dict[str, Any], ctx: AdapterContext, mapping: CsvMapping) -> list[Item]:
    """One CSV row -> one canonical event (or an Unmapped, or a PayloadError)."""

    def get(name: str) -> str | None:
        column = mapping.columns.get(name)
        if column is not None:
            if column not in row:
                raise PayloadError(column, f"column is missing from the file (for {name})")
            value = (row.get(column) or "").strip()
            if value:
                return value
        return mapping.constants.get(name)

    parts = []
    for column in mapping.id_columns:
        value = (row.get(column) or "").strip()
        if not value:
            raise PayloadError(column, "is missing (an id column)")
        parts.append(value)
    source_event_id = "|".join(parts)
    raw_time = get("occurred_at")
    if raw_time is None:
        raise PayloadError(mapping.columns.get("occurred_at", "occurred_at"), "is missing")
    occurred_at = _time(raw_time, mapping)
    coded: dict[str, str | None] = {}
    for name in CODED_FIELDS:
        raw = get(name)
        if raw is None:
            if name in ("result", "channel"):
                raise PayloadError(mapping.columns.get(name, name), "is missing")
            coded[name] = None
            continue
        code = mapping.values.get(name, {}).get(raw, raw)
        if code not in SYMBOLS[name]:
            return [
                Unmapped(
                    f"unknown_{name}_code",
                    f"{name} code {raw[:40]!r} (column {mapping.columns.get(name)!r}) of row "
                    f"{source_event_id!r} is not in the mapping's values.{name}: add it there",
                    source_event_id,
                    ctx.campaign_id,
                )
            ]
        coded[name] = code
    person = {p.split(".", 1)[1]: get(p) or "" for p in PERSON_FIELDS}
    person["state"] = (person["state"] or ctx.state or "").upper()
    event = canonical(
        ctx,
        source_event_id=source_event_id,
        campaign_id=ctx.campaign(get("campaign_id")),
        channel=str(coded["channel"]),
        occurred_at=occurred_at,
        person=person,
        result=str(coded["result"]),
        result_raw=get("result_raw") or get("result") or "",
        contact_type=coded["contact_type"],
        input_method=coded["input_method"] or "bulk_import",
        **{name: get(name) for name in TEXT_FIELDS if name != "campaign_id"},
        **_evidence(get, mapping),
    )
    return [event]


def _evidence(get: Callable[[str], str | None], mapping: CsvMapping) -> dict[str, Any]:
    """The location and call duration, when the mapping names their columns (numbers)."""
    numbers: dict[str, float] = {}
    for name in NUMBER_FIELDS:
        raw = get(name)
        if raw is None:
            continue
        try:
            numbers[name] = float(raw.replace(",", "."))
        except ValueError:
            raise PayloadError(
                mapping.columns.get(name, name), f"{raw[:40]!r} is not a number"
            ) from None
    out: dict[str, Any] = {}
    if "location.lat" in numbers and "location.lon" in numbers:
        out["location"] = {"lat": numbers["location.lat"], "lon": numbers["location.lon"]}
        if "location.accuracy_m" in numbers:
            out["location"]["accuracy_m"] = numbers["location.accuracy_m"]
    if "call_duration_s" in numbers:
        out["call_duration_s"] = round(numbers["call_duration_s"])
    return out


def _time(value: str, mapping: CsvMapping) -> str:
    column = mapping.columns.get("occurred_at", "occurred_at")
    if mapping.date_format is None:
        return timestamp(value, column, assume_tz=mapping.timezone)
    parsed = strptime_utc(value, (mapping.date_format,), mapping.timezone)
    if parsed is None:
        raise PayloadError(
            column, f"{value[:40]!r} does not match date_format {mapping.date_format!r}"
        )
    return parsed


def adapter(mapping: CsvMapping) -> Callable[[dict[str, Any], AdapterContext], list[Item]]:
    """The row adapter for ``mapping``, in the runner's ``adapt(row, ctx)`` shape."""
    return lambda row, ctx: adapt(row, ctx, mapping)


def import_mapped_csv(
    path: Path,
    mapping_path: Path,
    kafka: KafkaSettings,
    *,
    org_id: str,
    campaign_id: str | None = None,
    state: str | None = None,
    checkpoint_path: Path | None = None,
    partial_contacts: str = "count",
    restart: bool = False,
    stop_after: int | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Import the CSV at ``path`` with the mapping YAML at ``mapping_path`` (CLI entry)."""
    mapping = load_mapping(mapping_path)
    name = cp.import_name([path])
    spec = import_spec(
        "csv",
        "csv",
        name,
        source_system=mapping.source_system,
        org_id=org_id,
        campaign_id=campaign_id,
        state=state,
        mapping=mapping_path,
        files=[path],
        partial_contacts=partial_contacts,
    )
    return import_csv(
        path,
        adapter(mapping),
        import_context(spec),
        kafka,
        source=name,
        checkpoint_path=checkpoint_path,
        spec=spec,
        restart=restart,
        stop_after=stop_after,
        progress=progress,
    )


def replay_adapter(spec: dict[str, Any]) -> Callable[[dict[str, Any], AdapterContext], list[Item]]:
    """The row adapter of a recorded CSV import, through its mapping file as it is now."""
    return adapter(load_mapping(Path(spec["mapping"])))
