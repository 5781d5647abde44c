"""Load goals (CSV or YAML) and universes (CSV) into ClickHouse.

Every row is checked first; if any row is bad nothing is loaded and InputError lists up to
20 problems with their line numbers (CSV) or item numbers (YAML). Goals are stored per week:
any date of the week becomes that week's Monday (week_start).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from fieldstream.errors import InputError
from sinks.remote import StoreAccess

METRICS = ("attempts", "contacts", "ids", "people_reached")
GOAL_FIELDS = ("org_id", "campaign_id", "week", "metric", "target")
UNIVERSE_FIELDS = ("org_id", "campaign_id", "state", "voter_id")
GOAL_COLUMNS = ["org_id", "campaign_id", "week_start", "metric", "target", "loaded_at"]
UNIVERSE_COLUMNS = ["org_id", "campaign_id", "state", "voter_id", "loaded_at"]
MAX_PROBLEMS = 20

Located = tuple[str, dict[str, Any]]
"""(where: 'line N' or 'item N', the raw record)."""


def _fail(path: Path, problems: list[str]) -> InputError:
    shown = problems[:MAX_PROBLEMS]
    more = (
        f"\n  ... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
    )
    return InputError(
        f"{path.name}: {len(problems)} bad rows, nothing loaded:\n  " + "\n  ".join(shown) + more
    )


def read_csv(path: Path, required: Iterable[str]) -> Iterator[Located]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(f"{path.name}: header lacks column(s) {', '.join(missing)}")
            reader.fieldnames = header
            for record in reader:
                yield f"line {reader.line_num}", {k: v for k, v in record.items() if k}
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} is not a UTF-8 CSV file: {exc}") from exc


def read_yaml(path: Path) -> Iterator[Located]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path.name} as YAML: {exc}") from exc
    if isinstance(data, dict) and "goals" in data:
        data = data["goals"]
    if data is None:
        return
    if not isinstance(data, list):
        raise InputError(f"{path.name}: expected a list of goals (or goals: [...])")
    for i, item in enumerate(data, start=1):
        yield f"item {i}", item if isinstance(item, dict) else {"_not_a_mapping": item}


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(f"{name} is empty")
    return text


def monday_of(value: Any) -> dt.date:
    """The Monday of the week holding ``value`` (a date, datetime or YYYY-MM-DD text)."""
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError as exc:
            raise ValueError(f"week {value!r} is not a date (YYYY-MM-DD)") from exc
    return day - dt.timedelta(days=day.weekday())


def goal_row(record: dict[str, Any], loaded_at: dt.datetime) -> list[Any]:
    if "_not_a_mapping" in record:
        raise ValueError("is not a mapping of org_id, campaign_id, week, metric, target")
    metric = _text(record, "metric").lower()
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    raw_target = _text(record, "target")
    try:
        target = int(raw_target)
    except ValueError as exc:
        raise ValueError(f"target {raw_target!r} is not a whole number") from exc
    if target < 0:
        raise ValueError(f"target {target} is negative")
    week = record.get("week")
    if week is None or str(week).strip() == "":
        raise ValueError("week is empty")
    return [
        _text(record, "org_id"),
        _text(record, "campaign_id"),
        monday_of(week),
        metric,
        target,
        loaded_at,
    ]


def universe_row(record: dict[str, Any], loaded_at: dt.datetime) -> list[Any]:
    state = _text(record, "state").upper()
    if len(state) != 2 or not state.isalpha():
        raise ValueError(f"state {state!r} is not a two-letter state")
    return [
        _text(record, "org_id"),
        _text(record, "campaign_id"),
        state,
        _text(record, "voter_id"),
        loaded_at,
    ]


def _build(records: Iterable[Located], build: Any, path: Path) -> list[list[Any]]:
    loaded_at = dt.datetime.now(dt.UTC)
    rows, problems = [], []
    for where, record in records:
        try:
            rows.append(build(record, loaded_at))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise _fail(path, problems)
    return rows


def parse_goals(path: Path) -> list[list[Any]]:
    """Goal rows (GOAL_COLUMNS) from a CSV or YAML file; InputError if any row is bad."""
    if path.suffix.lower() in (".yaml", ".yml"):
        records: Iterable[Located] = read_yaml(path)
    else:
        records = read_csv(path, GOAL_FIELDS)
    return _build(records, goal_row, path)


def parse_universe(path: Path) -> list[list[Any]]:
    """Universe rows (UNIVERSE_COLUMNS) from a CSV file; InputError if any row is bad."""
    return _build(read_csv(path, UNIVERSE_FIELDS), universe_row, path)


def load_goals(store: StoreAccess, path: Path | str) -> int:
    rows = parse_goals(Path(path))
    if rows:
        store.insert("goals", GOAL_COLUMNS, rows)
    return len(rows)


def load_universe(store: StoreAccess, path: Path | str) -> int:
    rows = parse_universe(Path(path))
    if rows:
        store.insert("universes", UNIVERSE_COLUMNS, rows)
    return len(rows)
