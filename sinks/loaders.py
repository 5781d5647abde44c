"""Load goals (CSV or YAML) and universes (CSV, or a condition on the voters table).

Every row is checked first; if any row is bad nothing is loaded and InputError lists up to
20 problems with their line numbers (CSV) or item numbers (YAML). Goals are stored per week:
any date of the week becomes that week's Monday (week_start).

A universe load replaces the campaign's universe: its rows share a new load_id, and the views
of sinks/ddl/010_coverage.sql only see the newest load per org/campaign (see universe_where
for universes defined by a query).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from core.errors import InputError, StoreError
from schemas.rules import RESULTS_BY_CHANNEL
from sinks.remote import DirectAccess, StoreAccess
from sinks.rows import VOTER_COLUMNS
from sinks.sql import datetime64, string_literal
from sinks.store import LockedStore

METRICS = ("attempts", "contacts", "ids", "people_reached")
GOAL_FIELDS = ("org_id", "campaign_id", "week", "metric", "target")
UNIVERSE_FIELDS = ("org_id", "campaign_id", "state", "voter_id")
GOAL_COLUMNS = ["org_id", "campaign_id", "week_start", "metric", "target", "loaded_at"]
UNIVERSE_COLUMNS = [
    "org_id", "campaign_id", "state", "voter_id", "turf_id", "load_id", "loaded_at", "channel",
]  # fmt: skip
CHANNELS = frozenset(RESULTS_BY_CHANNEL)  # a universe may say which channel the plan uses
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


def universe_row(record: dict[str, Any], loaded_at: dt.datetime, load_id: str) -> list[Any]:
    """One universes row (UNIVERSE_COLUMNS); turf_id and channel (the plan's) are optional."""
    state = _text(record, "state").upper()
    if len(state) != 2 or not state.isalpha():
        raise ValueError(f"state {state!r} is not a two-letter state")
    turf = record.get("turf_id")
    channel = str(record.get("channel") or "").strip().lower()
    if channel and channel not in CHANNELS:
        raise ValueError(f"channel {channel!r} is not one of {', '.join(sorted(CHANNELS))}")
    return [
        _text(record, "org_id"),
        _text(record, "campaign_id"),
        state,
        _text(record, "voter_id"),
        "" if turf is None else str(turf).strip(),
        load_id,
        loaded_at,
        channel,
    ]


def _build(
    records: Iterable[Located],
    build: Any,
    path: Path,
    key: Callable[[list[Any]], Hashable] | None = None,
) -> list[list[Any]]:
    """The rows ``build`` makes of ``records``; InputError listing every bad one. With
    ``key``, a row whose key an earlier row has is a problem too (the same voter)."""
    loaded_at = dt.datetime.now(dt.UTC)
    rows, problems = [], []
    first: dict[Hashable, str] = {}
    for where, record in records:
        try:
            row = build(record, loaded_at)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if key is not None:
            seen = key(row)
            if seen in first:  # says where, never which voter
                problems.append(f"{where}: the same voter as {first[seen]}")
                continue
            first[seen] = where
        rows.append(row)
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
    """Universe rows (UNIVERSE_COLUMNS) from a CSV file, one new load_id for the file;
    InputError if any row is bad or lists a voter twice for one org/campaign."""
    load_id = uuid.uuid4().hex
    return _build(
        read_csv(path, UNIVERSE_FIELDS),
        lambda record, loaded_at: universe_row(record, loaded_at, load_id),
        path,
        key=lambda row: (row[0], row[1], row[2], row[3]),  # org, campaign, state, voter
    )


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


# --- universes defined by a condition on the voters table ------------------------------------

_TOKEN = re.compile(
    r"\s+|(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=|>=|!=|<>|==|=|<|>|\+|-|\*|/|%|\(|\)|,|\[|\])"
)
WHERE_KEYWORDS = {
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "LIKE",
    "ILIKE",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
}
WHERE_FUNCTIONS = {
    "lower", "upper", "lowerutf8", "upperutf8", "trim", "tostring", "toint32", "touint16",
    "todate", "today", "toyear", "length", "empty", "notempty", "startswith", "endswith",
    "position", "positioncaseinsensitive", "match", "has", "coalesce", "ifnull", "isnull",
    "isnotnull", "if", "multiif", "concat", "substring", "abs", "round", "greatest", "least",
}  # fmt: skip
VOTER_FIELDS = set(VOTER_COLUMNS)


def check_where(where: str) -> str:
    """The condition, if it only compares voters columns with literals through a few plain
    functions; else InputError. Why an allow-list: the text is pasted into SQL run by the
    store, so statements, comments, subqueries and reads of other tables (``x IN table``,
    table functions, dictGet) must be impossible, not merely unlikely. Messages name keywords
    and positions, never the literals (they may hold voter ids)."""
    text = where.strip()
    if not text:
        raise InputError("--where is empty: give a condition on the voters table")
    depth, pos, tokens = 0, 0, []
    while pos < len(text):
        if text.startswith(("--", "/*", "*/"), pos):
            raise InputError(f"--where: comments are not allowed (position {pos + 1})")
        m = _TOKEN.match(text, pos)
        if m is None:
            what = "';'" if text[pos] == ";" else "this character"
            raise InputError(f"--where: {what} is not allowed (position {pos + 1})")
        tokens.append((m.lastgroup, m.group(), m.end()))
        pos = m.end()
    for kind, tok, end in tokens:
        if tok in ("(", "["):
            depth += 1
        elif tok in (")", "]"):
            depth -= 1
            if depth < 0:
                raise InputError(f"--where: unbalanced brackets (position {end})")
        if kind != "name" or tok.upper() in WHERE_KEYWORDS:
            continue
        call = text[end:].lstrip().startswith("(")
        if call and tok.lower() not in WHERE_FUNCTIONS:
            raise InputError(
                f"--where: function {tok} is not allowed; use {', '.join(sorted(WHERE_FUNCTIONS))}"
            )
        if not call and tok not in VOTER_FIELDS:
            raise InputError(
                f"--where: {tok} is not a voters column nor an allowed keyword; columns: "
                f"{', '.join(VOTER_COLUMNS)}"
            )
    if depth:
        raise InputError("--where: unbalanced brackets")
    return text


def universe_select(
    org_id: str, campaign_id: str, where: str, load_id: str, at: dt.datetime
) -> str:
    """SELECT of universes rows (UNIVERSE_COLUMNS) for the voters matching ``where``."""
    if not org_id.strip() or not campaign_id.strip():
        raise InputError("--org and --campaign must not be empty")
    return (
        f"SELECT {string_literal(org_id.strip())} AS org_id, "
        f"{string_literal(campaign_id.strip())} AS campaign_id, state, voter_id, '' AS turf_id, "
        f"{string_literal(load_id)} AS load_id, {datetime64(at)} AS loaded_at, '' AS channel "
        f"FROM voters FINAL WHERE ({check_where(where)})"
    )


def insert_universe_select(store: LockedStore, org_id: str, campaign_id: str, where: str) -> int:
    """Replace a campaign's universe by the voters matching ``where``, inside the store
    (INSERT ... SELECT: no voter leaves ClickHouse); the number of voters. Refuses a
    condition that matches no voter (most likely a typo; the old universe stays)."""
    at, load_id = dt.datetime.now(dt.UTC), uuid.uuid4().hex
    select = universe_select(org_id, campaign_id, where, load_id, at)
    columns = ", ".join(UNIVERSE_COLUMNS)
    try:
        with store.lock:
            store.client.command(f"INSERT INTO universes ({columns}) {select}")
    except Exception as exc:
        raise StoreError(f"loading the universe failed: {exc}") from exc
    # an insert of no rows adds no load_id, so the old universe stays the newest load
    count = store.query(f"SELECT count() FROM universes WHERE load_id = {string_literal(load_id)}")
    matched = int(count[2][0][0])
    if matched == 0:
        raise InputError("--where matches no voter; the universe was not replaced")
    return matched


def load_universe_where(store: StoreAccess, org_id: str, campaign_id: str, where: str) -> int:
    """Replace a campaign's universe by the voters matching ``where``; the number of voters.

    In this process (DirectAccess) the insert runs inside the store; through a running sink
    the matching voters are read with /query and written back in one /insert (one load_id),
    until the sink offers insert_universe_select on a route of its own."""
    if isinstance(store, DirectAccess):
        return insert_universe_select(store.store, org_id, campaign_id, where)
    at, load_id = dt.datetime.now(dt.UTC), uuid.uuid4().hex
    _columns, rows = store.query(universe_select(org_id, campaign_id, where, load_id, at))
    if not rows:
        raise InputError("--where matches no voter; the universe was not replaced")
    store.insert("universes", UNIVERSE_COLUMNS, [[*r[:6], at, ""] for r in rows])
    return len(rows)
