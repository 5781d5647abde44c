"""sinks.loaders: parsing goals and universes, line-numbered errors, all-or-nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.errors import InputError
from sinks.loaders import (
    UNIVERSE_COLUMNS,
    check_where,
    monday_of,
    parse_goals,
    parse_universe,
    universe_select,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_goals_csv_week_becomes_monday(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "goals.csv",
        "org_id,campaign_id,week,metric,target\norg-a,gotv,2026-11-05,ids,300\n"
        "org-a,gotv,2026-11-02,attempts,0\n",
    )
    rows = parse_goals(path)
    assert [r[:5] for r in rows] == [
        ["org-a", "gotv", dt.date(2026, 11, 2), "ids", 300],
        ["org-a", "gotv", dt.date(2026, 11, 2), "attempts", 0],
    ]
    assert monday_of("2026-11-08") == dt.date(2026, 11, 2)


def test_goals_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "goals.yaml",
        "goals:\n  - {org_id: o, campaign_id: c, week: 2026-11-03, metric: contacts, target: 5}\n",
    )
    assert parse_goals(path)[0][2:5] == [dt.date(2026, 11, 2), "contacts", 5]


def test_goals_bad_rows_name_their_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "goals.csv",
        "org_id,campaign_id,week,metric,target\n"
        "org-a,gotv,2026-11-05,ids,300\n"
        "org-a,gotv,someday,ids,3\n"
        "org-a,gotv,2026-11-05,doors,3\n"
        "org-a,gotv,2026-11-05,ids,-1\n"
        ",gotv,2026-11-05,ids,1\n",
    )
    with pytest.raises(InputError) as err:
        parse_goals(path)
    text = str(err.value)
    assert "4 bad rows" in text and "nothing loaded" in text
    assert "line 3: week" in text and "line 4: metric 'doors'" in text
    assert "line 5: target -1" in text and "line 6: org_id is empty" in text
    assert "line 2" not in text


def test_yaml_items_are_numbered(tmp_path: Path) -> None:
    path = write(
        tmp_path, "g.yml", "- {org_id: o, campaign_id: c, week: x, metric: ids, target: 1}\n"
    )
    with pytest.raises(InputError, match="item 1: week"):
        parse_goals(path)


def test_problems_are_capped_at_20(tmp_path: Path) -> None:
    body = "".join("o,c,2026-11-02,ids,x\n" for _ in range(25))
    path = write(tmp_path, "goals.csv", "org_id,campaign_id,week,metric,target\n" + body)
    with pytest.raises(InputError) as err:
        parse_goals(path)
    assert str(err.value).count("is not a whole number") == 20
    assert "and 5 more" in str(err.value)


def test_universe(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "u.csv",
        "org_id,campaign_id,state,voter_id\norg-a,gotv,pa,V1\norg-a,gotv,Penn,V2\n",
    )
    with pytest.raises(InputError, match="line 3: state 'PENN'"):
        parse_universe(path)
    path.write_text("org_id,campaign_id,state,voter_id\norg-a,gotv,pa,V1\n")
    assert [r[:4] for r in parse_universe(path)] == [["org-a", "gotv", "PA", "V1"]]


def test_missing_header_column(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "org_id,state,voter_id\no,PA,V1\n")
    with pytest.raises(InputError, match="campaign_id"):
        parse_universe(path)


def test_universe_turf_is_optional_and_a_file_is_one_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "u.csv",
        "org_id,campaign_id,state,voter_id,turf_id\norg-a,gotv,PA,V1, T7 \norg-a,gotv,PA,V2,\n",
    )
    rows = parse_universe(path)
    assert len(rows[0]) == len(UNIVERSE_COLUMNS)
    turf, load = UNIVERSE_COLUMNS.index("turf_id"), UNIVERSE_COLUMNS.index("load_id")
    assert [r[turf] for r in rows] == ["T7", ""]
    assert rows[0][load] == rows[1][load] != ""
    assert parse_universe(path)[0][load] != rows[0][load]  # every load gets its own id
    path.write_text("org_id,campaign_id,state,voter_id\no,c,PA,V1\n")
    assert parse_universe(path)[0][turf] == ""


def test_universe_voter_listed_twice(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "u.csv",
        "org_id,campaign_id,state,voter_id\no,c,PA,V1\no,c,PA,V2\no,c,pa,V1\no,other,PA,V1\n",
    )
    with pytest.raises(InputError) as err:
        parse_universe(path)
    assert "1 bad rows" in str(err.value)
    assert "line 4: the same voter as line 2" in str(err.value)
    assert "V1" not in str(err.value)  # voter ids never in messages


@pytest.mark.parametrize(
    "where",
    [
        "county = 'Erie' AND age >= 18",
        "race_source = 'self_reported' AND race IN ('black', 'hispanic')",
        "lower(county) LIKE 'er%' OR (age BETWEEN 18 AND 29 AND sex != 'f')",
        "precinct_lat IS NOT NULL AND has(['001', '002'], precinct)",
        "county = 'O''Brien; DROP TABLE voters --'",  # all of it inside a literal
    ],
)
def test_where_accepts_conditions_on_voters(where: str) -> None:
    assert check_where(f"  {where} ") == where


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("", "empty"),
        ("age > 18; DROP TABLE voters", "';' is not allowed"),
        ("age > 18 -- and more", "comments"),
        ("age > 18 /* x */", "comments"),
        ("voter_id IN (SELECT voter_id FROM contact_events)", "SELECT is not a voters column"),
        ("voter_id IN secrets", "secrets is not a voters column"),
        ("dictGet('d', 'x', 1) = 1", "function dictGet is not allowed"),
        ("county = `x`", "this character is not allowed"),
        ("voters.county = 'Erie'", "this character is not allowed"),
        ("age > 18) OR (1 = 1", "unbalanced"),
        ("(age > 18", "unbalanced"),
        ("age > {x:UInt8}", "this character is not allowed"),
    ],
)
def test_where_refuses_anything_else(where: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_where(where)


def test_where_messages_do_not_echo_literals() -> None:
    with pytest.raises(InputError) as err:
        check_where("voter_id = 'PA123456' AND x = 1")
    assert "PA123456" not in str(err.value) and "x is not a voters column" in str(err.value)


def test_universe_select_quotes_org_and_campaign() -> None:
    at = dt.datetime(2026, 11, 2, 12, 0, 0, 123456, tzinfo=dt.UTC)
    sql = universe_select("o'rg", "gotv", "age >= 18", "L1", at)
    assert sql.startswith("SELECT 'o\\'rg' AS org_id, 'gotv' AS campaign_id")
    assert "toDateTime64('2026-11-02 12:00:00.123', 3, 'UTC')" in sql
    assert sql.endswith("FROM voters FINAL WHERE (age >= 18)")
    with pytest.raises(InputError, match="must not be empty"):
        universe_select(" ", "gotv", "age >= 18", "L1", at)
