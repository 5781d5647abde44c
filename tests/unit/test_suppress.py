"""fieldstream.suppress: small and complementary cells, 1-D and 2-D, nothing recoverable."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.settings import SharingSettings
from fieldstream.suppress import COMPLEMENTARY, SMALL, protect, suppress


def cells_1d(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [{"race": r, "universe": n, "attempted": n // 2} for r, n in counts.items()]


def test_primary_small_cells_and_their_measures_are_blanked() -> None:
    rows = suppress(
        cells_1d({"a": 40, "b": 5, "c": 3, "d": 60}),
        "universe",
        11,
        by=["race"],
        also=["attempted"],
    )
    by_race = {r["race"]: r for r in rows}
    assert by_race["b"] == {"race": "b", "universe": None, "attempted": None, "suppressed": SMALL}
    assert by_race["c"]["suppressed"] == SMALL
    # two small cells: neither can be recovered from the total, nothing more is suppressed
    assert by_race["a"] == {"race": "a", "universe": 40, "attempted": 20, "suppressed": None}
    assert by_race["d"]["universe"] == 60


def test_one_small_cell_takes_the_next_smallest_as_complement() -> None:
    out = protect(cells_1d({"a": 40, "b": 5, "c": 12, "d": 60}), "universe", 11, by=["race"])
    flags = {r["race"]: r["suppressed"] for r in out.rows}
    assert flags == {"a": None, "b": SMALL, "c": COMPLEMENTARY, "d": None}
    assert out.totals == {("table",): 117}


def test_k_is_configurable_and_defaults_to_settings() -> None:
    assert SharingSettings().min_group_size == 11
    rows = cells_1d({"a": 40, "b": 5, "c": 12, "d": 60})
    assert all(r["suppressed"] is None for r in suppress(rows, "universe", 5, by=["race"]))
    flags = [r["suppressed"] for r in suppress(rows, "universe", 13, by=["race"])]
    assert flags == [None, SMALL, SMALL, None]


def test_zeros_are_published_and_are_complements_last() -> None:
    rows = cells_1d({"a": 0, "b": 5, "c": 30, "d": 20})
    flags = [r["suppressed"] for r in suppress(rows, "universe", 11, by=["race"])]
    assert flags == [None, SMALL, None, COMPLEMENTARY]
    flags = [
        r["suppressed"] for r in suppress(cells_1d({"a": 0, "b": 5}), "universe", 11, ["race"])
    ]
    assert flags == [COMPLEMENTARY, SMALL]


def test_tables_within_are_separate() -> None:
    rows = [
        {"campaign": "gotv", "sex": "f", "n": 30},
        {"campaign": "gotv", "sex": "m", "n": 25},
        {"campaign": "persuade", "sex": "f", "n": 4},
        {"campaign": "persuade", "sex": "m", "n": 50},
    ]
    out = protect(rows, "n", 11, by=["sex"], within=["campaign"])
    assert [r["suppressed"] for r in out.rows] == [None, None, SMALL, COMPLEMENTARY]
    assert out.totals == {("table", "gotv"): 55, ("table", "persuade"): 54}


def test_small_total_is_withheld() -> None:
    out = protect(cells_1d({"a": 3, "b": 4}), "universe", 11, by=["race"])
    assert [r["suppressed"] for r in out.rows] == [SMALL, SMALL]
    assert out.totals == {("table",): None}  # 7 people are a small group themselves


def test_2d_complements_in_rows_and_columns() -> None:
    grid = {("p1", "f"): 30, ("p1", "m"): 5, ("p2", "f"): 40, ("p2", "m"): 50, ("p3", "f"): 20}
    grid[("p3", "m")] = 45
    rows = [{"precinct": p, "sex": s, "n": n} for (p, s), n in grid.items()]
    out = protect(rows, "n", 11, by=["precinct"], across="sex")
    flags = {(r["precinct"], r["sex"]): r["suppressed"] for r in out.rows}
    # p1/m is small; row p1 takes p1/f; column m takes its smallest (p3/m 45 vs p2/m 50),
    # then row p3 and column f need a second cell: p3/f closes the rectangle
    assert flags[("p1", "m")] == SMALL
    assert flags[("p1", "f")] == COMPLEMENTARY
    assert flags[("p3", "m")] == COMPLEMENTARY and flags[("p3", "f")] == COMPLEMENTARY
    assert flags[("p2", "f")] is None and flags[("p2", "m")] is None
    assert out.totals[("table",)] == sum(grid.values())
    assert_no_line_reveals_one(out.rows, out.totals, "n", ["precinct", "sex"], [])


def test_2d_avoids_complements_that_would_be_alone_in_their_other_line() -> None:
    # column x has one cell (p2/x): choosing it for row p2 would expose it by column x's total
    rows = [
        {"p": "p1", "c": "f", "n": 30},
        {"p": "p1", "c": "m", "n": 40},
        {"p": "p2", "c": "f", "n": 3},
        {"p": "p2", "c": "m", "n": 50},
        {"p": "p2", "c": "x", "n": 12},
    ]
    out = protect(rows, "n", 11, by=["p"], across="c")
    flags = {(r["p"], r["c"]): r["suppressed"] for r in out.rows}
    assert flags[("p2", "x")] is None
    assert flags[("p2", "m")] == COMPLEMENTARY
    assert_no_line_reveals_one(out.rows, out.totals, "n", ["p", "c"], [])


def test_1d_cells_keyed_by_two_columns() -> None:
    rows = [
        {"value": "black", "source": "self_reported", "n": 40},
        {"value": "black", "source": "bisg", "n": 6},
        {"value": "white", "source": "bisg", "n": 30},
    ]
    flags = [r["suppressed"] for r in suppress(rows, "n", 11, by=["value", "source"])]
    assert flags == [None, SMALL, COMPLEMENTARY]


def test_bad_input() -> None:
    with pytest.raises(InputError, match="whole number"):
        suppress([{"g": "a", "n": "7"}], "n", 11, by=["g"])
    with pytest.raises(InputError, match="rows 1 and 2"):
        suppress([{"g": "a", "n": 1}, {"g": "a", "n": 2}], "n", 11, by=["g"])
    with pytest.raises(InputError, match="at least one column"):
        suppress([], "n", 11, by=[])


def assert_no_line_reveals_one(
    rows: list[dict[str, Any]],
    totals: dict[tuple[Any, ...], int | None],
    count: str,
    by: list[str],
    within: list[str],
    original: dict[tuple[Any, ...], int] | None = None,
) -> None:
    """For every published total: total minus its line's published cells is never one cell."""
    lines: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        table = tuple(r[c] for c in within)
        if len(by) == 1:
            lines[("table", *table)].append(r)
        else:
            lines[("row", *table, r[by[0]])].append(r)
            lines[("column", *table, r[by[1]])].append(r)
    for line, members in lines.items():
        total = totals[line]
        if total is None:
            continue
        unknown = [r for r in members if r[count] is None]
        rest = total - sum(r[count] for r in members if r[count] is not None)
        assert len(unknown) != 1, f"{line}: {rest} is one suppressed cell"
        if original is not None and unknown:
            assert rest == sum(original[tuple(r[c] for c in (*within, *by))] for r in unknown)


def check(
    table: dict[tuple[Any, ...], int], k: int, by: list[str], within: list[str], zeros: bool = False
) -> None:
    names = [*within, *by]
    rows = [{**dict(zip(names, key, strict=True)), "n": n} for key, n in table.items()]
    across = by[1] if len(by) == 2 else None
    out = protect(rows, "n", k, by=by[:1], across=across, within=within, suppress_zeros=zeros)
    for r, src in zip(out.rows, rows, strict=True):
        small = (src["n"] > 0 or zeros) and src["n"] < k
        assert (r["suppressed"] == SMALL) == small
        assert (r["n"] is None) == (r["suppressed"] is not None)
        if r["n"] is not None:
            assert r["n"] == src["n"]
    assert_no_line_reveals_one(out.rows, out.totals, "n", by, within, table)
    assert all(total >= k for total in out.totals.values() if total is not None)
    if len(by) == 2:  # row totals (and column totals) against the grand total
        for kind in ("row", "column"):
            withheld: dict[tuple[Any, ...], int] = defaultdict(int)
            for line, total in out.totals.items():
                if line[0] == kind:
                    withheld[line[1:-1]] += total is None
            for key, n in withheld.items():
                assert n != 1 or out.totals[("table", *key)] is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=12),
    st.integers(1, 15),
)
def test_1d_property_nothing_recoverable(counts: list[int], k: int) -> None:
    check({(f"g{i}",): n for i, n in enumerate(counts)}, k, ["g"], [])


@st.composite
def grids(draw: st.DrawFn) -> dict[tuple[Any, ...], int]:
    n_rows, n_cols = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    values = draw(st.lists(st.integers(0, 40), min_size=n_rows * n_cols, max_size=n_rows * n_cols))
    return {
        (f"r{i}", f"c{j}"): values[i * n_cols + j] for i in range(n_rows) for j in range(n_cols)
    }


@settings(max_examples=300, deadline=None)
@given(grids(), st.integers(1, 15), st.booleans())
def test_2d_property_nothing_recoverable(
    table: dict[tuple[Any, ...], int], k: int, zeros: bool
) -> None:
    check(table, k, ["r", "c"], [], zeros)


@settings(max_examples=100, deadline=None)
@given(grids(), grids(), st.integers(1, 15))
def test_2d_property_per_table(
    a: dict[tuple[Any, ...], int], b: dict[tuple[Any, ...], int], k: int
) -> None:
    table = {("A", *key): n for key, n in a.items()} | {("B", *key): n for key, n in b.items()}
    check(table, k, ["r", "c"], ["t"])
