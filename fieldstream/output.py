"""Rows printed for people and for programs: ``--format table|tsv|json``, never truncated.

- ``table``: a rich table whose cells wrap (fold) instead of being cut with "…", however
  narrow the terminal; the default when the output is a terminal.
- ``tsv``: a header line, then one line per row, tab separated, escaped as ClickHouse's
  TabSeparated format escapes (``\\t``, ``\\n``, ``\\\\``; NULL is ``\\N``); the default when the
  output is piped or redirected, so ``fieldstream sql ... | cut -f2`` works.
- ``json``: one JSON array of objects, column -> value.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    tsv = "tsv"
    json = "json"


def default_format(stream: TextIO | None = None) -> Format:
    """``table`` on a terminal, ``tsv`` when piped or redirected."""
    out = stream if stream is not None else sys.stdout
    return Format.table if out.isatty() else Format.tsv


def tsv_value(value: Any) -> str:
    """One TabSeparated field."""
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else _text(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple, dict)):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def print_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: Format | None = None,
    stream: TextIO | None = None,
    title: str | None = None,
) -> None:
    """Print ``rows`` under ``columns`` in ``fmt`` (default: :func:`default_format`)."""
    out = stream if stream is not None else sys.stdout
    fmt = fmt or default_format(out)
    if fmt is Format.tsv:
        out.write("\t".join(tsv_value(c) for c in columns) + "\n")
        for row in rows:
            out.write("\t".join(tsv_value(v) for v in row) + "\n")
        return
    if fmt is Format.json:
        objects = [dict(zip(columns, row, strict=True)) for row in rows]
        out.write(orjson.dumps(objects, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table(title=title)
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else _text(v) for v in row))
    Console(file=out, soft_wrap=False).print(table)
