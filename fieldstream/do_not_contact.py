"""The do-not-contact list (``fieldstream do-not-contact``): who opted out of a channel, for a
texting or calling tool to suppress, read from the ``do_not_contact`` view (sinks/ddl).

One row per person and channel whose latest opt-in or opt-out is an opt-out; an opt-out of
``all`` channels counts for every channel. Rows carry every id the opt-out named (a voter
file id, a VAN id, a vendor id) and the phone number when the tool gave one. Written as CSV
(the default: what tools import), JSON lines or a table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from sinks.sql import string_literal

CHANNELS = ("text", "phone", "door", "email", "mail")
COLUMNS = (
    "channel", "phone", "van_id", "state", "voter_id", "state_file_id", "vendor_id",
    "since", "source_system",
)  # fmt: skip
FORMATS = ("csv", "json", "table")


def list_sql(org_id: str, channel: str | None = None) -> str:
    """The list for ``org_id`` (one channel, with opt-outs of all channels, or every channel),
    oldest opt-out first."""
    where = f"org_id = {string_literal(org_id)}"
    if channel is not None:
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        where += f" AND channel IN ({string_literal(channel)}, 'all')"
    columns = ", ".join(f"toString({c})" if c in ("channel", "since") else c for c in COLUMNS)
    return f"SELECT {columns} FROM do_not_contact WHERE {where} ORDER BY since, person_key, channel"


def render(rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """The rows as CSV (with a header), JSON lines, or an aligned table."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return out.getvalue()
    if fmt == "json":
        return "".join(
            json.dumps(dict(zip(COLUMNS, row, strict=True)), default=str) + "\n" for row in rows
        )
    if fmt == "table":
        cells = [list(COLUMNS)] + [["" if v is None else str(v) for v in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
        return "".join(
            "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n"
            for r in cells
        )
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
