"""Small-group suppression for outputs meant for sharing (1-D and 2-D count tables).

Why: a published count of fewer than k people (settings.sharing.min_group_size, 11 by default)
can identify them, and so can a published total minus the other published cells of its line.
So a cell whose group is smaller than k is suppressed ("small"), and while a line (a 1-D table,
or a row or column of a 2-D table) whose total is published holds exactly one suppressed cell,
its smallest published cell is suppressed too ("complementary"), repeated until no line holds
exactly one. A suppressed value becomes None; the flag column says why.

Why our own code: the maintained tools for complementary suppression are tau-Argus (Java;
piargus drives its binary) and sdcMicro / sdcTable (R); ACRO (Python) suppresses primary cells
only; nothing on PyPI named sdc-tools does this. The rule we need is short and testable.

Limits (also in docs/coverage.md):
- Protection is against recovery by subtraction within one line. In a 2-D table, combining
  several row and column totals (linear algebra) can still pin a suppressed cell down when it is
  a bridge of the bipartite row/column graph of suppressed cells; non-negativity gives bounds.
- Tables linked outside ``within`` (precincts nested in counties published in another
  table, the same people cut by two dimensions) are the caller's job: pass the parent as
  ``within`` (e.g. precincts within county) so the parent's total is that line's margin.
- Totals: publish only those :func:`protect` returns (a total below k is itself a small group,
  and a total over a line with one suppressed cell that could not be helped would reveal it).
- Zeros are published by default (no one to protect) and chosen as complements only when no
  non-zero cell is left in the line, since a suppressed zero hides little.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import InputError

SMALL = "small"
COMPLEMENTARY = "complementary"

Key = tuple[Hashable, ...]


@dataclass
class Protected:
    """Suppressed rows and the totals that are safe to publish beside them.

    ``totals`` maps a line to its total, or None where the total must be withheld. Lines are
    ``("table", within...)`` for a 1-D table, ``("row", within..., row key)`` and
    ``("column", within..., column value)`` for a 2-D table (the row key is the ``by`` value,
    or a tuple of them), and ``("table", within...)`` for
    the 2-D grand total.
    """

    rows: list[dict[str, Any]]
    totals: dict[Key, int | None] = field(default_factory=dict)


def _count(row: Mapping[str, Any], column: str, where: int) -> int:
    value = row.get(column)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"row {where}: {column} must be a whole number >= 0")
    return value


def _complete(
    lines: Mapping[Key, list[int]], values: Sequence[int], flags: list[str | None]
) -> None:
    """Suppress complements until no line holds exactly one suppressed cell (where it can)."""
    by_cell: dict[int, list[Key]] = defaultdict(list)
    for line, cells in lines.items():
        for i in cells:
            by_cell[i].append(line)

    def cost(i: int, line: Key) -> tuple[int, int, int]:
        # a cell whose other line has no other published cell would just move the problem
        stuck = any(
            sum(1 for j in lines[other] if flags[j] is None) < 2
            and sum(1 for j in lines[other] if flags[j] is not None) == 0
            for other in by_cell[i]
            if other != line
        )
        return (int(stuck), int(values[i] == 0), values[i])

    changed = True
    while changed:
        changed = False
        for line, cells in lines.items():
            hidden = [i for i in cells if flags[i] is not None]
            shown = [i for i in cells if flags[i] is None]
            if len(hidden) == 1 and shown:
                pick = min(shown, key=lambda i: (*cost(i, line), i))
                flags[pick] = COMPLEMENTARY
                changed = True


def _totals(
    lines: Mapping[Key, list[int]], values: Sequence[int], flags: Sequence[str | None], k: int
) -> dict[Key, int | None]:
    out: dict[Key, int | None] = {}
    for line, cells in lines.items():
        total = sum(values[i] for i in cells)
        one_hidden = sum(1 for i in cells if flags[i] is not None) == 1
        out[line] = None if total < k or one_hidden else total
    return out


def protect(
    rows: Iterable[Mapping[str, Any]],
    count: str,
    k: int,
    by: Sequence[str],
    across: str | None = None,
    within: Sequence[str] = (),
    also: Sequence[str] = (),
    flag: str = "suppressed",
    suppress_zeros: bool = False,
) -> Protected:
    """Suppress small and complementary cells of the tables in ``rows``.

    ``count`` names the group size; ``by`` names the columns that tell the cells of a 1-D table
    apart (e.g. value and source), or the rows of a 2-D table whose columns ``across`` names;
    ``within`` names the columns that tell tables apart (each with its own totals, e.g. org_id,
    campaign_id, dimension). ``also`` names further columns
    blanked with the count (measures of the same group, like attempted). Cells absent from
    ``rows`` count as published zeros. Rows come back in their order, as copies.
    """
    if not by:
        raise InputError("by names at least one column")
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}")
    src = [dict(r) for r in rows]
    values = [_count(r, count, n) for n, r in enumerate(src, start=1)]
    seen: dict[Key, int] = {}
    for n, r in enumerate(src, start=1):
        cell = tuple(r.get(c) for c in (*within, *by, *([across] if across else [])))
        if cell in seen:
            raise InputError(f"rows {seen[cell]} and {n} are the same cell of one table")
        seen[cell] = n
    flags: list[str | None] = [
        SMALL if v < k and (v > 0 or suppress_zeros) else None for v in values
    ]
    lines: dict[Key, list[int]] = defaultdict(list)
    for i, r in enumerate(src):
        table = tuple(r.get(c) for c in within)
        if across is None:
            lines[("table", *table)].append(i)
        else:
            key = r.get(by[0]) if len(by) == 1 else tuple(r.get(c) for c in by)
            lines[("row", *table, key)].append(i)
            lines[("column", *table, r.get(across))].append(i)
    _complete(lines, values, flags)
    totals = _totals(lines, values, flags, k)
    if across is not None:
        sums = {line: sum(values[i] for i in cells) for line, cells in lines.items()}
        totals.update(_grand_totals(sums, totals, k))
    out = []
    for r, f in zip(src, flags, strict=True):
        if f is not None:
            for c in (count, *also):
                r[c] = None
        r[flag] = f
        out.append(r)
    return Protected(out, totals)


def _grand_totals(
    sums: Mapping[Key, int], totals: dict[Key, int | None], k: int
) -> dict[Key, int | None]:
    """Row (and column) totals are the cells of a 1-D table whose margin is the grand total:
    withhold complements among them in ``totals``; the grand totals, None when below k."""
    keys = list(sums)
    lines: dict[Key, list[int]] = defaultdict(list)
    for n, key in enumerate(keys):
        lines[key[:-1]].append(n)  # ("row", *table) or ("column", *table)
    hidden: list[str | None] = [SMALL if totals[key] is None else None for key in keys]
    _complete(lines, [sums[key] for key in keys], hidden)
    for n, key in enumerate(keys):
        if hidden[n] is not None:
            totals[key] = None
    grand: dict[Key, int] = defaultdict(int)
    for key in keys:
        if key[0] == "row":
            grand[("table", *key[1:-1])] += sums[key]
    return {table: None if total < k else total for table, total in grand.items()}


def suppress(
    rows: Iterable[Mapping[str, Any]],
    count: str,
    k: int,
    by: Sequence[str],
    across: str | None = None,
    within: Sequence[str] = (),
    also: Sequence[str] = (),
    flag: str = "suppressed",
) -> list[dict[str, Any]]:
    """The rows of :func:`protect`, for callers that publish no totals of their own."""
    return protect(rows, count, k, by, across, within, also, flag).rows
