"""The mapping that says how a voter file's columns become Voter fields.

Mappings are data, not code: a YAML file (``--mapping``) or a preset by name (``--preset l2``,
from producers/voterfile_presets/). A mapping names plain columns, value maps, defaults, and,
for race and ethnicity, an ordered list of sources so that a self-reported value, a vendor's
model and BISG are never mixed silently::

    default_state: NC
    columns: {voter_id: ncid, county: county_desc, birth_year: birth_year, sex: gender_code}
    values:  {sex: {F: female, M: male, U: unknown}}
    race:                       # first non-empty, non-"unknown" value wins; its source is kept
      - {column: vf_race, source: self_reported}
      - {column: tsmr_race, source: vendor_model, probability: tsmr_race_prob}
    ethnicity:
      - {column: ethnic_code, source: self_reported, values: {HL: hispanic, NL: not_hispanic}}
    birth_date: {column: Voters_BirthDate, formats: ["%m/%d/%Y"]}
    state_in_voter_id: [3, 5]   # LALNC123 -> NC, when the file has no state column
    bisg: {surname: last_name, zip: zip_code}   # fills race/ethnicity no source gave

The older form (``columns: {race: Race, race_source: RaceSource}``) still works; a mapping
may not use both forms for the same field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from schemas.codec import VOTER, enum_symbols

PRESETS_DIR = Path(__file__).resolve().parent.parent / "voterfile_presets"

STRING_FIELDS = (
    "county",
    "precinct",
    "congressional_district",
    "state_senate_district",
    "state_house_district",
)
INT_FIELDS = {"birth_year": (1890, 2100), "age": (0, 130)}
FLOAT_FIELDS = {
    "race_probability": (0.0, 1.0),
    "ethnicity_probability": (0.0, 1.0),
    "precinct_lat": (-90.0, 90.0),
    "precinct_lon": (-180.0, 180.0),
    "address_lat": (-90.0, 90.0),  # the voter's geocoded residence (standard 1.1)
    "address_lon": (-180.0, 180.0),
}
SOURCES = ("self_reported", "vendor_model", "bisg", "unknown")
DEMOGRAPHICS = ("race", "ethnicity")  # the fields that take an ordered list of sources


ENUMS: dict[str, tuple[str, ...]] = {**enum_symbols(VOTER), "ethnicity_source": SOURCES}
FIELDS = ("voter_id", "state", *STRING_FIELDS, *INT_FIELDS, *ENUMS, *FLOAT_FIELDS)


@dataclass(frozen=True)
class SourceColumn:
    """One column that may give race (or ethnicity), with where its values come from."""

    column: str
    source: str
    probability: str | None = None  # column with the model's probability (modeled sources)
    probability_scale: float = 1.0  # 100 when the vendor writes 0..100
    values: dict[str, str] = field(default_factory=dict)  # this column's own codes


@dataclass(frozen=True)
class BirthDate:
    column: str
    formats: tuple[str, ...] = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")


@dataclass(frozen=True)
class BisgColumns:
    """Columns BISG reads; they stay in the loader (the Voter record has no such fields)."""

    surname: str
    zip: str


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    default_state: str | None = None
    explicit: bool = True  # False: identity mapping, absent columns are simply empty
    race: tuple[SourceColumn, ...] = ()
    ethnicity: tuple[SourceColumn, ...] = ()
    birth_date: BirthDate | None = None
    bisg: BisgColumns | None = None
    state_in_voter_id: tuple[int, int] | None = None  # voter_id[a:b] is the state (L2: 3, 5)
    delimiter: str | None = None  # None: tab when the header has tabs and no commas
    encoding: str = "utf-8-sig"
    name: str = "identity"  # the preset's or file's name, for messages

    def required_columns(self) -> list[str]:
        """Every column the file must have (the identity mapping needs only voter_id)."""
        if not self.explicit:
            return [self.columns["voter_id"]]
        cols = list(self.columns.values())
        for src in (*self.race, *self.ethnicity):
            cols += [src.column] + ([src.probability] if src.probability else [])
        if self.birth_date:
            cols.append(self.birth_date.column)
        if self.bisg:
            cols += [self.bisg.surname, self.bisg.zip]
        return list(dict.fromkeys(cols))


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_mapping(path: Path | None = None, *, preset: str | None = None) -> Mapping:
    """Read a mapping YAML or a preset by name; neither: the columns are the Voter fields."""
    if path is not None and preset is not None:
        raise ConfigError("give a mapping file or a preset, not both")
    if preset is not None:
        path = PRESETS_DIR / f"{preset}.yaml"
        if not path.is_file():
            raise ConfigError(f"no voter-file preset {preset!r}; known: {', '.join(presets())}")
    if path is None:
        return Mapping(columns={f: f for f in FIELDS}, explicit=False)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"voter mapping file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"voter mapping file {path} is not valid YAML: {exc}") from exc
    return parse_mapping(data, str(path))


def parse_mapping(data: Any, where: str) -> Mapping:
    """A Mapping from the YAML's data; ``where`` names the file in messages."""
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise ConfigError(f"voter mapping {where}: 'columns' must map Voter fields to columns")
    columns = {str(k): str(v) for k, v in (data.get("columns") or {}).items()}
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ConfigError(f"voter mapping {where} maps unknown Voter fields {unknown}; {FIELDS}")
    values = {
        str(f): {str(k): str(v) for k, v in (m or {}).items()}
        for f, m in (data.get("values") or {}).items()
    }
    defaults = {str(k): str(v) for k, v in (data.get("defaults") or {}).items()}
    lists = {name: _sources(data.get(name), name, where) for name in DEMOGRAPHICS}
    for name, srcs in lists.items():
        mixed = {name, f"{name}_source", f"{name}_probability"} & set(columns)
        if srcs and mixed:
            raise ConfigError(
                f"voter mapping {where}: {name} is given as a list of sources and also as "
                f"columns {sorted(mixed)}; use one form"
            )
    state = data.get("default_state")
    delimiter = data.get("delimiter")
    if delimiter is not None and len(str(delimiter)) != 1:
        raise ConfigError(f"voter mapping {where}: delimiter must be one character")
    span = data.get("state_in_voter_id")
    if span is not None and not (
        isinstance(span, list) and len(span) == 2 and all(isinstance(i, int) for i in span)
    ):
        raise ConfigError(f"voter mapping {where}: state_in_voter_id must be [start, end]")
    return Mapping(
        columns,
        values,
        defaults,
        str(state).upper() if state else None,
        race=lists["race"],
        ethnicity=lists["ethnicity"],
        birth_date=_birth_date(data.get("birth_date"), where),
        bisg=_bisg(data.get("bisg"), where),
        state_in_voter_id=(span[0], span[1]) if span else None,
        delimiter=str(delimiter) if delimiter is not None else None,
        encoding=str(data.get("encoding") or "utf-8-sig"),
        name=Path(where).stem,
    )


def _sources(raw: Any, name: str, where: str) -> tuple[SourceColumn, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise ConfigError(f"voter mapping {where}: {name} must be a list of {{column, source}}")
    out = []
    for i, s in enumerate(raw, 1):
        column, source = s.get("column"), s.get("source")
        if not column or source not in SOURCES[:3]:
            raise ConfigError(
                f"voter mapping {where}: {name} source {i} needs a column and a source, "
                f"one of {', '.join(SOURCES[:3])}"
            )
        prob = s.get("probability")
        if prob and source == "self_reported":
            raise ConfigError(
                f"voter mapping {where}: {name} source {i} is self_reported; only modeled "
                "sources carry a probability"
            )
        scale = float(s.get("probability_scale") or 1.0)
        vals = {str(k): str(v) for k, v in (s.get("values") or {}).items()}
        out.append(SourceColumn(str(column), source, str(prob) if prob else None, scale, vals))
    return tuple(out)


def _birth_date(raw: Any, where: str) -> BirthDate | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return BirthDate(raw)
    if not isinstance(raw, dict) or not raw.get("column"):
        raise ConfigError(f"voter mapping {where}: birth_date needs a column (and formats)")
    formats = raw.get("formats")
    if formats is None:
        return BirthDate(str(raw["column"]))
    return BirthDate(str(raw["column"]), tuple(str(f) for f in formats))


def _bisg(raw: Any, where: str) -> BisgColumns | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw.get("surname") or not raw.get("zip"):
        raise ConfigError(f"voter mapping {where}: bisg needs a surname and a zip column")
    return BisgColumns(str(raw["surname"]), str(raw["zip"]))
