"""Stream a voter file's rows, CSV or Parquet, as (position, {column: text}) pairs.

Statewide files run to millions of rows and hundreds of columns (L2's carry ~700), so a
reader never holds the file: CSV is read line by line and Parquet batch by batch
(``ParquetFile.iter_batches``), and each row keeps only the columns the mapping uses.

Positions: for CSV the physical line a row starts on (the header is line 1; a quoted field
may span lines); for Parquet the row number, 1 for the first row, as Parquet has no lines.
Values are text either way, so one converter serves both (Parquet numbers and dates are
written as a CSV would hold them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import InputError
from producers.voterfile.mapping import FIELDS, Mapping

BATCH_ROWS = 10_000
PARQUET_MAGIC = b"PAR1"


class RowReader:
    """Rows of one voter file; ``unit`` says what positions count, ``progress()`` how far."""

    unit = "line"

    def __init__(self, path: Path, mapping: Mapping) -> None:
        self.path = path
        self.mapping = mapping

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        raise NotImplementedError

    def progress(self) -> tuple[int, int]:
        """(done, total) in the reader's own measure: bytes for CSV, rows for Parquet."""
        raise NotImplementedError

    def _columns(self, header: list[str]) -> list[str]:
        """The columns to keep; InputError naming any the mapping needs and the file lacks."""
        if not self.mapping.explicit:
            wanted = [c for c in FIELDS if c in header]
            if "voter_id" not in header:
                wanted.append("voter_id")
        else:
            wanted = self.mapping.required_columns()
        missing = sorted(c for c in wanted if c not in header)
        if missing:
            raise InputError(
                f"voter file {self.path} has no column(s) {', '.join(missing)}: fix the mapping "
                "or the file's header"
            )
        return wanted


def open_rows(path: Path, mapping: Mapping) -> RowReader:
    """A reader for ``path``: Parquet when the file starts with PAR1, else delimited text."""
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise InputError(f"voter file {path} does not exist") from None
    if magic == PARQUET_MAGIC:
        return ParquetRows(path, mapping)
    return CsvRows(path, mapping)


class CsvRows(RowReader):
    unit = "line"

    def __init__(self, path: Path, mapping: Mapping) -> None:
        super().__init__(path, mapping)
        self.total = path.stat().st_size
        self._raw: io.BufferedReader | None = None

    def progress(self) -> tuple[int, int]:
        done = self._raw.tell() if self._raw is not None and not self._raw.closed else 0
        return min(done, self.total), self.total

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self.path.open("rb") as raw:
            self._raw = raw
            text = io.TextIOWrapper(raw, encoding=self.mapping.encoding, newline="")
            reader = None
            try:
                first = text.readline()
                delimiter = self.mapping.delimiter or (
                    "\t" if "\t" in first and "," not in first else ","
                )
                header = next(csv.reader([first], delimiter=delimiter), [])
                wanted = self._columns([h.strip() for h in header])
                index = [(c, [h.strip() for h in header].index(c)) for c in wanted]
                reader = csv.reader(text, delimiter=delimiter)
                before = 0  # lines the csv reader had consumed before this row
                for row in reader:
                    start, before = before + 2, reader.line_num  # + the header, + 1-based
                    if not row:
                        continue  # a blank line is no voter
                    n = len(row)
                    yield start, {c: (row[i] if i < n else "") for c, i in index}
            except UnicodeDecodeError as exc:
                where = f" near line {reader.line_num + 1}" if reader else ""
                raise InputError(
                    f"voter file {self.path} is not {self.mapping.encoding} text{where}; set "
                    "encoding: in the mapping (latin-1, cp1252, ...)"
                ) from exc
            except csv.Error as exc:
                where = f"line {reader.line_num}" if reader else "the header"
                raise InputError(f"voter file {self.path}: {where} is not CSV: {exc}") from exc
            finally:
                text.detach()


class ParquetRows(RowReader):
    unit = "row"

    def __init__(self, path: Path, mapping: Mapping) -> None:
        super().__init__(path, mapping)
        # imported here: only Parquet files need pyarrow's reader
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid and OSError subclasses
            raise InputError(f"voter file {path} is not a readable Parquet file: {exc}") from exc
        self.total = self._file.metadata.num_rows
        self._done = 0

    def progress(self) -> tuple[int, int]:
        return self._done, self.total

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        header = list(self._file.schema_arrow.names)
        wanted = self._columns(header)
        number = 0
        for batch in self._file.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            cols = [[_text(v) for v in batch.column(c).to_pylist()] for c in wanted]
            for values in zip(*cols, strict=True):
                number += 1
                self._done = number
                yield number, dict(zip(wanted, values, strict=True))


def _text(value: Any) -> str:
    """A Parquet value as the text a CSV would hold: integral floats without '.0'."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()  # a birth date stored as a timestamp
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
