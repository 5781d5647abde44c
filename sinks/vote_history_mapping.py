"""What a vote-history file's columns mean: a YAML mapping or a preset (sinks/vote_history_presets).

Two shapes cover the files in use:

- ``long``: one row per voter per election voted (North Carolina's ``ncvhis``, most state
  history extracts): a voter id column, a column with the election's date, optionally its name
  and the voting method.
- ``wide``: one row per voter, one column per election (L2's ``VOTEHISTORY`` file, TargetSmart
  and other vendor extracts): a pattern on the column names gives each election's date, and the
  values that mean "voted" are listed.

The state comes from a column, from characters of the voter id (``state_in_voter_id``), or a
default; voter ids are written as the voter file's loader writes them (``state:voter_id`` keys),
so vote history joins the voters and universes tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

PRESETS_DIR = Path(__file__).with_name("vote_history_presets")
SHAPES = ("long", "wide")
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")
PATTERN_GROUPS = ("year", "month", "day")


@dataclass(frozen=True)
class HistoryMapping:
    shape: str
    voter_id: str
    state: str | None = None
    default_state: str | None = None
    state_in_voter_id: tuple[int, int] | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    # long
    election_date: str | None = None
    date_formats: tuple[str, ...] = DATE_FORMATS
    election_name: str | None = None
    method: str | None = None
    # wide
    pattern: re.Pattern[str] | None = None
    voted: tuple[str, ...] = ("Y",)
    name: str = "identity"

    def columns(self, header: list[str]) -> list[str]:
        """The file's columns to read; ConfigError naming those the file lacks."""
        wanted = [self.voter_id, *([self.state] if self.state else [])]
        if self.shape == "long":
            wanted += [c for c in (self.election_date, self.election_name, self.method) if c]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ConfigError(
                f"the vote-history file has no column(s) {', '.join(missing)}: fix the mapping "
                f"({self.name}) or the file's header"
            )
        if self.shape == "wide":
            found = self.election_columns(header)
            if not found:
                assert self.pattern is not None
                raise ConfigError(
                    f"no column of the file matches the mapping's election pattern "
                    f"{self.pattern.pattern!r} ({self.name})"
                )
            wanted += list(found)
        return wanted

    def election_columns(self, header: list[str]) -> dict[str, str]:
        """Wide files: column -> election date (ISO) for every column the pattern matches."""
        assert self.pattern is not None
        out = {}
        for column in header:
            m = self.pattern.match(column)
            if m is not None:
                out[column] = f"{m['year']}-{m['month']}-{m['day']}"
        return out


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_history_mapping(path: Path | None, preset: str | None = None) -> HistoryMapping:
    """The mapping of a YAML file, or of a preset by name."""
    if (path is None) == (preset is None):
        raise ConfigError("give a vote-history --mapping file or a --preset, not both or neither")
    if preset is not None:
        if preset not in presets():
            raise ConfigError(f"no vote-history preset {preset!r}; presets: {', '.join(presets())}")
        path = PRESETS_DIR / f"{preset}.yaml"
    assert path is not None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"vote-history mapping {path} does not exist") from None
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"vote-history mapping {path} is not valid YAML: {exc}") from exc
    return parse_history_mapping(data, str(path))


def _text(data: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or str(value).strip() == "":
        if required:
            raise ConfigError(f"vote-history mapping {where}: {key} is required")
        return None
    if isinstance(value, dict | list):
        raise ConfigError(f"vote-history mapping {where}: {key} must be a column name")
    return str(value).strip()


def parse_history_mapping(data: Any, where: str) -> HistoryMapping:
    """A HistoryMapping from YAML data; ConfigError naming the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"vote-history mapping {where} must be a mapping of keys")
    shape = str(data.get("shape", "")).strip()
    if shape not in SHAPES:
        raise ConfigError(f"vote-history mapping {where}: shape must be one of {', '.join(SHAPES)}")
    span = data.get("state_in_voter_id")
    if span is not None and not (
        isinstance(span, list) and len(span) == 2 and all(isinstance(i, int) for i in span)
    ):
        raise ConfigError(f"vote-history mapping {where}: state_in_voter_id must be [start, end]")
    state = _text(data, "default_state", where)
    if state is not None and not (len(state) == 2 and state.isalpha()):
        raise ConfigError(f"vote-history mapping {where}: default_state must be two letters")
    delimiter = data.get("delimiter")
    if delimiter is not None and len(str(delimiter)) != 1:
        raise ConfigError(f"vote-history mapping {where}: delimiter must be one character")
    common: dict[str, Any] = {
        "shape": shape,
        "voter_id": _text(data, "voter_id", where, required=True),
        "state": _text(data, "state", where),
        "default_state": state.upper() if state else None,
        "state_in_voter_id": (span[0], span[1]) if span else None,
        "delimiter": str(delimiter) if delimiter is not None else None,
        "encoding": str(data.get("encoding") or "utf-8"),
        "name": Path(where).stem,
    }
    if shape == "long":
        raw = data.get("election_date")
        if isinstance(raw, str):
            raw = {"column": raw}
        if not isinstance(raw, dict) or not raw.get("column"):
            raise ConfigError(
                f"vote-history mapping {where}: a long file needs election_date: {{column: ...}}"
            )
        formats = raw.get("formats") or list(DATE_FORMATS)
        return HistoryMapping(
            **common,
            election_date=str(raw["column"]),
            date_formats=tuple(str(f) for f in formats),
            election_name=_text(data, "election_name", where),
            method=_text(data, "method", where),
        )
    elections = data.get("elections")
    if not isinstance(elections, dict) or not elections.get("pattern"):
        raise ConfigError(
            f"vote-history mapping {where}: a wide file needs elections: {{pattern: ..., voted: "
            "[...]}}, the pattern naming groups year, month and day"
        )
    try:
        pattern = re.compile(str(elections["pattern"]))
    except re.error as exc:
        raise ConfigError(f"vote-history mapping {where}: elections.pattern: {exc}") from exc
    missing = [g for g in PATTERN_GROUPS if g not in pattern.groupindex]
    if missing:
        raise ConfigError(
            f"vote-history mapping {where}: elections.pattern lacks the group(s) "
            f"{', '.join(missing)} (write (?P<year>\\d{{4}}) ...)"
        )
    voted = elections.get("voted") or ["Y"]
    if not isinstance(voted, list):
        raise ConfigError(f"vote-history mapping {where}: elections.voted must be a list")
    return HistoryMapping(**common, pattern=pattern, voted=tuple(str(v) for v in voted))
