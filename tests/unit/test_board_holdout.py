"""The board flags a holdout breach beside coverage (the coverage panel's own columns)."""

from __future__ import annotations

from fieldstream.board import _coverage_line
from fieldstream.board_panels import CampaignBoard, CoverageRow, _fill


def board(coverage: CoverageRow) -> CampaignBoard:
    return CampaignBoard("org", "gotv", coverage=coverage)


def test_a_breach_is_flagged_in_red() -> None:
    line = _coverage_line(board(CoverageRow(400, 1600, 120, held_out=180, breaches=3)))
    assert "180 held out" in line.plain and "HOLDOUT BREACHED: 3 attempted" in line.plain
    assert any("red" in str(span.style) for span in line.spans)


def test_no_holdout_no_note_and_a_clean_holdout_no_flag() -> None:
    assert "held out" not in _coverage_line(board(CoverageRow(400, 1600, 120))).plain
    clean = _coverage_line(board(CoverageRow(400, 1600, 120, held_out=180)))
    assert "180 held out" in clean.plain and "BREACHED" not in clean.plain


def test_the_coverage_panel_row_carries_the_holdout() -> None:
    out = CampaignBoard("org", "gotv")
    row = {"universe": 1600, "attempted": 400, "contacted": 120, "attempted_share": 0.25,
           "contacted_share": 0.075, "held_out": 180, "holdout_breaches": 2}  # fmt: skip
    _fill(out, "coverage", [row])
    assert out.coverage == CoverageRow(400, 1600, 120, 180, 2)
