"""Voter file (CSV) -> Voter records on the compacted voters topic.

A mapping YAML says which CSV column feeds each Voter field, how a file's codes map to the
standard's values, and defaults::

    default_state: ZZ
    columns: {voter_id: VoterID, sex: Gender, race: Race, race_source: RaceSource, ...}
    values:  {sex: {F: female, M: male}, race: {W: white, ...}}
    defaults: {race_source: vendor_model}

Without a mapping the CSV's columns are the Voter field names. Loading streams the file twice
with bounded memory: a validation pass (every bad row with its line number; nothing is sent
when any row is bad, unless ``skip_bad``, which writes the rejects beside the file), then a
send pass.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from fieldstream.errors import BrokerError, ConfigError, InputError
from fieldstream.kafka import ensure_topics, producer_config
from fieldstream.settings import KafkaSettings
from schemas.codec import VOTER, AvroCodec, load_schemas
from schemas.ids import voter_key

log = logging.getLogger(__name__)

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
}
SOURCES = ("self_reported", "vendor_model", "bisg", "unknown")
MAX_LISTED = 20


def _enums() -> dict[str, tuple[str, ...]]:
    schema = load_schemas()[VOTER]
    out: dict[str, tuple[str, ...]] = {}
    for f in schema["fields"]:
        t = f["type"]
        if isinstance(t, dict) and t.get("type") == "enum":
            out[f["name"]] = tuple(t["symbols"])
    out["ethnicity_source"] = SOURCES
    return out


ENUMS = _enums()
FIELDS = ("voter_id", "state", *STRING_FIELDS, *INT_FIELDS, *ENUMS, *FLOAT_FIELDS)


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    default_state: str | None = None
    explicit: bool = True  # False: identity mapping, absent columns are simply empty


@dataclass(frozen=True)
class RowProblem:
    line: int
    problems: list[str]
    row: dict[str, str]

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.problems)}"


@dataclass
class LoadSummary:
    file: Path
    topic: str
    sent: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_file: Path | None = None

    def __str__(self) -> str:
        extra = f", {self.rejected} rejected (see {self.rejects_file})" if self.rejected else ""
        return (
            f"{self.sent} voters from {self.file.name} sent to {self.topic} "
            f"in {self.seconds:.1f}s{extra}"
        )


def load_mapping(path: Path | None) -> Mapping:
    """Read a mapping YAML; None means the CSV columns are the Voter field names."""
    if path is None:
        return Mapping(columns={f: f for f in FIELDS}, explicit=False)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"voter mapping file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"voter mapping file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise ConfigError(f"voter mapping file {path}: 'columns' must map Voter fields to columns")
    columns = {str(k): str(v) for k, v in (data.get("columns") or {}).items()}
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"voter mapping file {path} maps unknown Voter fields {unknown}; known: {FIELDS}"
        )
    values = {
        str(f): {str(k): str(v) for k, v in (m or {}).items()}
        for f, m in (data.get("values") or {}).items()
    }
    defaults = {str(k): str(v) for k, v in (data.get("defaults") or {}).items()}
    state = data.get("default_state")
    return Mapping(columns, values, defaults, str(state).upper() if state else None)


def _convert(raw: dict[str, str], mapping: Mapping, now: dt.datetime) -> tuple[dict, list[str]]:
    problems: list[str] = []

    def get(name: str) -> str | None:
        column = mapping.columns.get(name)
        value = (raw.get(column) or "").strip() if column else ""
        if not value:
            value = mapping.defaults.get(name, "")
        return value or None

    rec: dict[str, Any] = {"updated_at": now}
    voter_id = get("voter_id")
    if voter_id is None:
        problems.append(f"voter_id (column {mapping.columns.get('voter_id')!r}) is empty")
    rec["voter_id"] = voter_id or ""
    state = (get("state") or mapping.default_state or "").upper()
    if len(state) != 2 or not state.isalpha():
        problems.append(f"state {state!r} is not a two-letter state (set default_state?)")
    rec["state"] = state
    for name in STRING_FIELDS:
        rec[name] = get(name)
    for name, (lo, hi) in INT_FIELDS.items():
        value = get(name)
        rec[name] = None
        if value is not None:
            try:
                rec[name] = int(value)
            except ValueError:
                problems.append(f"{name} {value!r} is not a whole number")
                continue
            if not lo <= rec[name] <= hi:
                problems.append(f"{name} {value} is outside {lo}..{hi}")
    for name, symbols in ENUMS.items():
        value = get(name)
        if value is not None:
            value = mapping.values.get(name, {}).get(value, value)
        if value is None:
            value = "unknown"
        elif value not in symbols:
            problems.append(
                f"{name} {value!r} is not one of {', '.join(symbols)} (add it to values.{name})"
            )
        rec[name] = value
    for name, (flo, fhi) in FLOAT_FIELDS.items():
        value = get(name)
        rec[name] = None
        if value is not None:
            try:
                rec[name] = float(value)
            except ValueError:
                problems.append(f"{name} {value!r} is not a number")
                continue
            if not flo <= rec[name] <= fhi:
                problems.append(f"{name} {value} is outside {flo:g}..{fhi:g}")
    return rec, problems


def read_voters(
    path: Path, mapping: Path | Mapping | None, *, now: dt.datetime | None = None
) -> Iterator[dict[str, Any] | RowProblem]:
    """Each data row of ``path`` as a Voter record, or a RowProblem with its line number."""
    m = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    now = now or dt.datetime.now(dt.UTC)
    try:
        f = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"voter file {path} does not exist") from None
    with f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        wanted = m.columns.values() if m.explicit else [m.columns["voter_id"]]
        missing = sorted(c for c in wanted if c not in header)
        if missing:
            raise InputError(
                f"voter file {path} has no column(s) {', '.join(missing)}: fix the mapping "
                "or the file's header"
            )
        line = reader.line_num
        for raw in reader:
            rec, problems = _convert(raw, m, now)
            yield RowProblem(line + 1, problems, raw) if problems else rec
            line = reader.line_num


class _Sender:
    def __init__(self, kafka: KafkaSettings) -> None:
        self.producer = Producer(producer_config(kafka))
        self.topic = kafka.topics.voters
        self.codec = AvroCodec()
        self.errors: list[str] = []
        self.failed = 0

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(str(err))

    def send(self, rec: dict[str, Any]) -> None:
        key = voter_key(rec["state"], rec["voter_id"]).encode()
        value = self.codec.encode(VOTER, rec)
        while True:
            try:
                self.producer.produce(self.topic, value, key, on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.2)
            except KafkaException as exc:
                raise BrokerError(f"cannot produce to {self.topic}: {exc}") from exc
        self.producer.poll(0)

    def finish(self, timeout_s: float = 60.0) -> None:
        left = self.producer.flush(timeout_s)
        if left:
            raise BrokerError(f"{left} voters were not acknowledged by Kafka in {timeout_s:.0f}s")
        if self.failed:
            raise BrokerError(
                f"Kafka refused {self.failed} voters on {self.topic}: {'; '.join(self.errors)}"
            )


def _validate(path: Path, mapping: Mapping, skip_bad: bool) -> tuple[int, int, Path | None]:
    good = bad = 0
    listed: list[str] = []
    rejects_path = path.with_name(path.stem + ".rejects.csv") if skip_bad else None
    writer = None
    out = rejects_path.open("w", newline="", encoding="utf-8") if rejects_path else None
    try:
        for item in read_voters(path, mapping):
            if not isinstance(item, RowProblem):
                good += 1
                continue
            bad += 1
            if len(listed) < MAX_LISTED:
                listed.append(str(item))
            if out is not None:
                if writer is None:
                    writer = csv.DictWriter(out, ["line", "problems", *item.row.keys()])
                    writer.writeheader()
                writer.writerow(
                    {"line": item.line, "problems": "; ".join(item.problems)} | item.row
                )
    finally:
        if out is not None:
            out.close()
    if bad and not skip_bad:
        more = f"\n... and {bad - len(listed)} more" if bad > len(listed) else ""
        raise InputError(
            f"voter file {path} has {bad} bad row(s); nothing was sent. Fix them, or load "
            f"with --skip-bad to send the good rows:\n" + "\n".join(listed) + more
        )
    return good, bad, rejects_path if bad else None


def load_voters(
    path: Path,
    mapping: Path | None,
    kafka: KafkaSettings,
    *,
    progress: bool = False,
    skip_bad: bool = False,
) -> LoadSummary:
    """Validate then send the voter file at ``path``; returns what was sent."""
    started = time.monotonic()
    m = load_mapping(mapping)
    good, bad, rejects = _validate(path, m, skip_bad)
    ensure_topics(kafka)
    sender = _Sender(kafka)
    summary = LoadSummary(path, kafka.topics.voters, rejected=bad, rejects_file=rejects)
    records = (r for r in read_voters(path, m) if not isinstance(r, RowProblem))
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"sending {path.name}", total=good)
            for rec in records:
                sender.send(rec)
                summary.sent += 1
                if summary.sent % 200 == 0:
                    bar.update(task, completed=summary.sent)
            bar.update(task, description="waiting for Kafka", completed=summary.sent)
            sender.finish()
    else:
        for rec in records:
            sender.send(rec)
            summary.sent += 1
        sender.finish()
    summary.seconds = time.monotonic() - started
    log.info("voter file loaded: %d sent, %d rejected", summary.sent, summary.rejected)
    return summary
