"""The do-not-contact list's query and its output formats."""

from __future__ import annotations

import csv
import io
import json

import pytest

from fieldstream.do_not_contact import COLUMNS, list_sql, render

ROWS = [
    ["text", "+15555550100", "101", "", "", "", "", "2026-10-01 10:00:00.000", "van"],
    ["all", "", "", "ZZ", "V1", "", "", "2026-10-02 10:00:00.000", "hustle"],
]


def test_a_channel_includes_opt_outs_of_every_channel_and_the_org_is_quoted() -> None:
    sql = list_sql("org'; DROP TABLE x --", "text")
    assert "org_id = 'org\\'; DROP TABLE x --'" in sql
    assert "channel IN ('text', 'all')" in sql
    assert "channel IN" not in list_sql("org-a")
    with pytest.raises(ValueError, match="channel"):
        list_sql("org-a", "carrier pigeon")


def test_csv_json_and_table_carry_the_same_rows() -> None:
    parsed = list(csv.reader(io.StringIO(render(ROWS, "csv"))))
    assert parsed[0] == list(COLUMNS) and parsed[1:] == ROWS
    lines = [json.loads(line) for line in render(ROWS, "json").splitlines()]
    assert [line["phone"] for line in lines] == ["+15555550100", ""]
    table = render(ROWS, "table").splitlines()
    assert table[0].split() == list(COLUMNS) and len(table) == 3
    assert render([], "csv") == ",".join(COLUMNS) + "\n"
    with pytest.raises(ValueError, match="format"):
        render(ROWS, "xml")
