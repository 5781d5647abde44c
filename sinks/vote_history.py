"""Load who voted (CSV or Parquet, long or wide) into ClickHouse's vote_history table.

Millions of rows in bounded memory: the file is read a block at a time with pyarrow (its
streaming CSV reader, or Parquet row groups), only the mapped columns, and each block becomes
rows inserted at once; nothing holds the file. One pass: every row is read once.

A load is all-or-nothing for the views: its rows carry a new load_id, and only when the whole file
has gone in is a row per state and election written to vote_history_loads, which is what makes
the load current (sinks/ddl/016_vote_history.sql). A file with bad rows (no voter id, a date the
mapping cannot read, a state that is not two letters) is refused after the pass, naming up to
20 of them by row, unless ``skip_bad``; the rows already written stay invisible.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InputError
from sinks.remote import StoreAccess
from sinks.vote_history_mapping import HistoryMapping

COLUMNS = ["state", "voter_id", "election_date", "election_name", "method", "load_id", "loaded_at"]
LOAD_COLUMNS = ["load_id", "state", "election_date", "voters", "source", "loaded_at", "finished_at"]
BLOCK_BYTES = 8 << 20
PARQUET_ROWS = 100_000
INSERT_ROWS = 100_000
MAX_PROBLEMS = 20
EPOCH = dt.date(1970, 1, 1)

Progress = Callable[[int, int | None], None]


@dataclass
class HistorySummary:
    file: Path
    rows_read: int = 0
    voted: int = 0
    skipped: int = 0
    elections: Counter[tuple[str, dt.date]] = field(default_factory=Counter)
    load_id: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        dates = sorted({d for _, d in self.elections})
        span = f"{dates[0]}..{dates[-1]}" if len(dates) > 1 else (str(dates[0]) if dates else "-")
        skipped = f", {self.skipped} bad rows skipped" if self.skipped else ""
        return (
            f"{self.voted:,} votes in {len(dates)} election(s) ({span}) from {self.file.name}, "
            f"{self.rows_read:,} rows read in {self.seconds:.1f}s{skipped}"
        )


@dataclass
class _Problems:
    count: int = 0
    shown: list[str] = field(default_factory=list)

    def add(self, rows: np.ndarray, first_row: int, what: str) -> None:
        self.count += int(rows.size)
        for r in rows[: max(0, MAX_PROBLEMS - len(self.shown))]:
            self.shown.append(f"row {first_row + int(r)}: {what}")


def _first_line(path: Path, encoding: str) -> str:
    with path.open("rb") as f:
        raw = f.readline()
    return raw.decode(encoding, "replace").lstrip("\ufeff").rstrip("\r\n")


def _csv_header(line: str, delimiter: str) -> list[str]:
    import csv

    return [h.strip() for h in next(csv.reader([line], delimiter=delimiter), [])]


class _Source:
    """The file's blocks as pyarrow RecordBatches of string columns, with progress."""

    def __init__(self, path: Path, mapping: HistoryMapping) -> None:
        self.path = path
        try:
            with path.open("rb") as f:
                self.parquet = f.read(4) == b"PAR1"
        except OSError as exc:
            raise InputError(f"cannot read the vote-history file {path}: {exc}") from exc
        if self.parquet:
            import pyarrow.parquet as pq

            try:
                self._pq = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises several kinds
                raise InputError(f"{path.name} is not a readable Parquet file: {exc}") from exc
            self.header = list(self._pq.schema_arrow.names)
            self.total: int | None = self._pq.metadata.num_rows
        else:
            first = _first_line(path, mapping.encoding)
            self.delimiter = mapping.delimiter or (
                "\t" if "\t" in first and "," not in first else ","
            )
            self.header = _csv_header(first, self.delimiter)
            self.total = path.stat().st_size
        self.mapping = mapping
        self.done = 0

    def batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        if self.parquet:
            for batch in self._pq.iter_batches(batch_size=PARQUET_ROWS, columns=columns):
                self.done += batch.num_rows
                yield pa.RecordBatch.from_arrays(
                    [pc.cast(batch.column(c), pa.string()) for c in columns], names=columns
                )
            return
        import pyarrow.csv as pacsv

        read = pacsv.ReadOptions(block_size=BLOCK_BYTES, encoding=self.mapping.encoding)
        parse = pacsv.ParseOptions(delimiter=self.delimiter)
        convert = pacsv.ConvertOptions(
            include_columns=columns,
            column_types={c: pa.string() for c in columns},
            strings_can_be_null=False,
        )
        with self.path.open("rb") as raw:
            try:
                reader = pacsv.open_csv(raw, read, parse, convert)
                for batch in reader:
                    self.done = raw.tell()
                    yield batch
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                raise InputError(
                    f"{self.path.name} is not a {self.mapping.encoding} delimited file the "
                    f"mapping can read: {exc}"
                ) from exc


def _trimmed(batch: pa.RecordBatch, column: str) -> pa.Array:
    return pc.utf8_trim_whitespace(batch.column(column).fill_null(""))


def _states(batch: pa.RecordBatch, ids: pa.Array, m: HistoryMapping) -> np.ndarray:
    if m.state:
        states = pc.utf8_upper(_trimmed(batch, m.state))
        if m.default_state:
            states = pc.if_else(pc.equal(states, ""), m.default_state, states)
    elif m.state_in_voter_id:
        start, stop = m.state_in_voter_id
        states = pc.utf8_upper(pc.utf8_slice_codeunits(ids, start, stop))
    else:
        states = pa.array([m.default_state or ""] * len(ids), pa.string())
    return np.asarray(states.to_numpy(zero_copy_only=False), dtype=object)


def _parse_date(label: str, formats: Sequence[str]) -> int:
    """Days since 1970 of a date label, or -1 when no format reads it."""
    text = label.strip()
    for fmt in formats:
        try:
            return (dt.datetime.strptime(text, fmt).date() - EPOCH).days
        except ValueError:
            continue
    return -1


class HistoryReader:
    """Rows (state, voter_id, election day number, election name, method) per block."""

    def __init__(self, path: Path, mapping: HistoryMapping, elections: set[dt.date]) -> None:
        self.source = _Source(path, mapping)
        self.mapping = mapping
        self.columns = mapping.columns(self.source.header)
        self.wanted = {(d - EPOCH).days for d in elections}
        self.problems = _Problems()
        self.rows_read = 0
        self._dates: dict[str, int] = {}

    def blocks(self) -> Iterator[list[tuple[Any, ...]]]:
        m = self.mapping
        for batch in self.source.batches(self.columns):
            first_row = self.rows_read + 1
            self.rows_read += batch.num_rows
            ids = _trimmed(batch, m.voter_id)
            ids_np = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
            states = _states(batch, ids, m)
            good = (ids_np != "") & np.fromiter(
                (len(s) == 2 and s.isalpha() for s in states), bool, len(states)
            )
            self._note(~(ids_np != ""), first_row, "no voter id")
            self._note((ids_np != "") & ~good, first_row, "no two-letter state")
            if m.shape == "long":
                yield self._long(batch, ids_np, states, good, first_row)
            else:
                yield self._wide(batch, ids_np, states, good)

    def _note(self, bad: np.ndarray, first_row: int, what: str) -> None:
        rows = np.flatnonzero(bad)
        if rows.size:
            self.problems.add(rows, first_row, what)

    def _long(
        self,
        batch: pa.RecordBatch,
        ids: np.ndarray,
        states: np.ndarray,
        good: np.ndarray,
        first_row: int,
    ) -> list[tuple[Any, ...]]:
        m = self.mapping
        assert m.election_date is not None
        encoded = pc.dictionary_encode(batch.column(m.election_date).fill_null(""))
        labels = encoded.dictionary.to_pylist()
        days_of = np.array(
            [self._dates.setdefault(s, _parse_date(s, m.date_formats)) for s in labels] or [-1]
        )
        days = days_of[encoded.indices.to_numpy(zero_copy_only=False)]
        self._note(good & (days < 0), first_row, "an election date the mapping cannot read")
        keep = good & (days >= 0)
        if self.wanted:
            keep &= np.isin(days, list(self.wanted))
        idx = np.flatnonzero(keep)
        names = _column(batch, m.election_name, idx)
        methods = _column(batch, m.method, idx)
        return list(zip(states[idx], ids[idx], days[idx].tolist(), names, methods, strict=True))

    def _wide(
        self, batch: pa.RecordBatch, ids: np.ndarray, states: np.ndarray, good: np.ndarray
    ) -> list[tuple[Any, ...]]:
        m = self.mapping
        voted = pa.array(m.voted, pa.string())
        out: list[tuple[Any, ...]] = []
        for column, iso in m.election_columns(self.columns).items():
            day = (dt.date.fromisoformat(iso) - EPOCH).days
            if self.wanted and day not in self.wanted:
                continue
            hit = pc.is_in(_trimmed(batch, column), value_set=voted)
            idx = np.flatnonzero(good & hit.to_numpy(zero_copy_only=False))
            out.extend(
                zip(
                    states[idx],
                    ids[idx],
                    [day] * idx.size,
                    [column] * idx.size,
                    [""] * idx.size,
                    strict=True,
                )
            )
        return out


def _column(batch: pa.RecordBatch, name: str | None, idx: np.ndarray) -> list[str]:
    if name is None:
        return [""] * idx.size
    values = _trimmed(batch, name).take(pa.array(idx, pa.int64()))
    return values.to_pylist()


def load_vote_history(
    store: StoreAccess,
    path: Path | str,
    mapping: HistoryMapping,
    *,
    elections: Sequence[dt.date] = (),
    skip_bad: bool = False,
    on_progress: Progress | None = None,
    insert_rows: int = INSERT_ROWS,
) -> HistorySummary:
    """Load the votes of ``path`` (only ``elections`` when given); see the module doc."""
    import time

    started = time.perf_counter()
    path = Path(path)
    reader = HistoryReader(path, mapping, set(elections))
    load_id, loaded_at = uuid.uuid4().hex, dt.datetime.now(dt.UTC)
    summary = HistorySummary(path, load_id=load_id)
    pending: list[list[Any]] = []

    def flush() -> None:
        if pending:
            store.insert("vote_history", COLUMNS, pending)
            pending.clear()

    for rows in reader.blocks():
        for state, voter_id, day, name, method in rows:
            date = EPOCH + dt.timedelta(days=day)
            summary.elections[(state, date)] += 1
            pending.append([state, voter_id, date, name, method, load_id, loaded_at])
            if len(pending) >= insert_rows:
                flush()
        if on_progress is not None:
            on_progress(reader.source.done, reader.source.total)
    flush()
    summary.rows_read = reader.rows_read
    summary.voted = sum(summary.elections.values())
    problems = reader.problems
    if problems.count and not skip_bad:
        hidden = problems.count - len(problems.shown)
        more = f"\n  ... and {hidden} more" if hidden else ""
        raise InputError(
            f"{path.name}: {problems.count} bad rows; the load was not made current (fix the "
            "file or the mapping, or --skip-bad):\n  " + "\n  ".join(problems.shown) + more
        )
    summary.skipped = problems.count
    if not summary.elections:
        raise InputError(f"{path.name}: no votes found (for the elections asked for)")
    finished = dt.datetime.now(dt.UTC)
    store.insert(
        "vote_history_loads",
        LOAD_COLUMNS,
        [
            [load_id, s, d, n, path.name, loaded_at, finished]
            for (s, d), n in summary.elections.items()
        ],
    )
    summary.seconds = time.perf_counter() - started
    return summary
