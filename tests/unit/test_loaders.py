"""sinks.loaders: parsing goals and universes, line-numbered errors, all-or-nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fieldstream.errors import InputError
from sinks.loaders import monday_of, parse_goals, parse_universe


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
