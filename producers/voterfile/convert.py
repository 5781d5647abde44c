"""One voter-file row -> one Voter record (or the row's problems), by a Mapping.

Race and ethnicity: the mapping's sources are tried in order; the first that gives a value
other than empty or "unknown" wins and its source (and, for a modeled source, its probability)
is recorded with it. A code no value map knows is a problem, not a silent fall-through.

Birth dates are personal data: messages name the column, never the date.

Age, honestly: with a full birth date the record gets ``birth_year`` and the exact ``age`` on
the load date (the load's ``updated_at``); with a birth year only, ``birth_year`` and no age
(readers derive an age from the year, off by one before the birthday); with an age column only,
``age`` as the file states it, which is as old as the vendor's file (TargetSmart, for one,
writes the age at the end of the current year).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from producers.voterfile.mapping import (
    DEMOGRAPHICS,
    ENUMS,
    FLOAT_FIELDS,
    INT_FIELDS,
    STRING_FIELDS,
    Mapping,
    SourceColumn,
)


def convert(raw: dict[str, str], mapping: Mapping, now: dt.datetime) -> tuple[dict, list[str]]:
    """The Voter record for ``raw`` and the list of what is wrong with it (empty: good)."""
    problems: list[str] = []
    columns = mapping.columns
    text: dict[str, str] = {}  # field -> non-empty text (the file's, else the default)
    for name, column in columns.items():
        value = raw.get(column)
        if value and (value := value.strip()):
            text[name] = value
    for name, value in mapping.defaults.items():
        if value:
            text.setdefault(name, value)
    get = text.get

    rec: dict[str, Any] = {"updated_at": now}
    voter_id = get("voter_id")
    if voter_id is None:
        problems.append(f"voter_id (column {columns.get('voter_id')!r}) is empty")
    rec["voter_id"] = voter_id or ""
    from_id = ""
    if mapping.state_in_voter_id and voter_id:
        from_id = voter_id[slice(*mapping.state_in_voter_id)]
    state = (get("state") or from_id or mapping.default_state or "").upper()
    if len(state) != 2 or not state.isalpha():
        problems.append(f"state {state!r} is not a two-letter state (set default_state?)")
    rec["state"] = state
    for name in STRING_FIELDS:
        rec[name] = get(name)
    for name, (lo, hi) in INT_FIELDS.items():
        rec[name] = _number(get(name), name, int, lo, hi, problems)
    for name, symbols in ENUMS.items():
        rec[name] = _symbol(get(name), name, symbols, mapping.values.get(name, {}), problems)
    for name, (flo, fhi) in FLOAT_FIELDS.items():
        rec[name] = _number(get(name), name, float, flo, fhi, problems)
    for name in DEMOGRAPHICS:
        sources: tuple[SourceColumn, ...] = getattr(mapping, name)
        if sources:
            _first_source(raw, name, sources, mapping.values.get(name, {}), rec, problems)
    if mapping.birth_date is not None:
        _birth(raw.get(mapping.birth_date.column), mapping, now.date(), rec, problems)
    return rec, problems


def _number(
    value: str | None, name: str, kind: type, lo: float, hi: float, problems: list[str]
) -> Any:
    if value is None:
        return None
    try:
        number = kind(value)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        problems.append(f"{name} {value!r} is not {what}")
        return None
    if not lo <= number <= hi:
        problems.append(f"{name} {value} is outside {lo:g}..{hi:g}")
    return number


def _symbol(
    value: str | None,
    name: str,
    symbols: tuple[str, ...],
    values: dict[str, str],
    problems: list[str],
) -> str:
    if value is None:
        return "unknown"
    value = values.get(value, value)
    if value not in symbols:
        problems.append(
            f"{name} {value!r} is not one of {', '.join(symbols)} (add it to values.{name})"
        )
    return value


def _first_source(
    raw: dict[str, str],
    name: str,
    sources: tuple[SourceColumn, ...],
    shared: dict[str, str],
    rec: dict[str, Any],
    problems: list[str],
) -> None:
    """Fill rec[name], rec[name_source], rec[name_probability] from the first source giving one."""
    rec[name], rec[f"{name}_source"], rec[f"{name}_probability"] = "unknown", "unknown", None
    symbols = ENUMS[name]
    for src in sources:
        code = (raw.get(src.column) or "").strip()
        if not code:
            continue
        value = src.values.get(code) or shared.get(code) or code
        if value == "unknown":
            continue
        if value not in symbols:
            problems.append(
                f"{name} {code!r} in column {src.column!r} is not one of {', '.join(symbols)} "
                f"(add it to the source's values or values.{name})"
            )
            return
        rec[name], rec[f"{name}_source"] = value, src.source
        if src.probability:
            p = (raw.get(src.probability) or "").strip()
            if p:
                try:
                    prob = float(p) / src.probability_scale
                except ValueError:
                    problems.append(f"{name} probability {p!r} is not a number")
                    return
                if not 0.0 <= prob <= 1.0:
                    problems.append(f"{name} probability {p} is outside 0..1 after scaling")
                rec[f"{name}_probability"] = prob
        return


def _birth(
    value: str | None,
    mapping: Mapping,
    today: dt.date,
    rec: dict[str, Any],
    problems: list[str],
) -> None:
    value = (value or "").strip()
    if not value:
        return
    assert mapping.birth_date is not None
    column = mapping.birth_date.column  # the date itself stays out of messages
    if len(value) == 4 and value.isdigit():  # some files give the year only in the date column
        rec["birth_year"] = _number(value, "birth date", int, 1890, today.year, problems)
        return
    for fmt in mapping.birth_date.formats:
        try:
            born = dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        if not 1890 <= born.year <= today.year or born > today:
            problems.append(f"birth date (column {column!r}) is outside 1890..{today}")
            return
        rec["birth_year"] = born.year
        rec["age"] = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return
    formats = ", ".join(mapping.birth_date.formats)
    problems.append(f"birth date (column {column!r}) does not match {formats}")
