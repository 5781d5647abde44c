"""Small groups out of the shared report: fieldstream.suppress applied to each panel's rows.

Why not only the boards' own ``HAVING people_reached >= ${min_group_size}``: rows left out of
one table can be recovered from another (by sex and by race add up to the same total), and a
reader cannot tell a dropped group from an absent one. So the report runs the boards' queries
with ``min_group_size`` at 0 (every group) and suppresses here: groups under k people, and
complements, so no hidden cell follows from a total (fieldstream.suppress, docs/coverage.md).
Hidden rows stay in the table, marked as suppressed.

Which column is the group size: the one the board compares with ``${min_group_size}`` (its own
choice: people reached, universe), else the first of :data:`GROUP_SIZE_COLUMNS` present.
A panel with a group column but no group size column is withheld whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fieldstream.report.model import PanelData, as_float, is_number
from fieldstream.suppress import protect

# columns whose values are groups of people (demographics, geography)
GROUP_COLUMNS = frozenset(
    {
        "race",
        "race_source",
        "ethnicity",
        "ethnicity_source",
        "sex",
        "age_band",
        "age",
        "precinct",
        "turf",
        "turf_id",
        "county",
        "congressional_district",
        "state_senate_district",
        "state_house_district",
        "district",
        "value",
        "source",
    }
)
# preferred measures of a group's size, in order, when the SQL does not say
GROUP_SIZE_COLUMNS = ("universe", "people_reached", "people", "voters", "attempts", "attempted")
# published with the group, never blanked: where it is, not who
KEEP_COLUMNS = frozenset({"latitude", "longitude", "lat", "lon"})
THRESHOLD = re.compile(r"(\w+)\s*>=?\s*(?:\$min_group_size\b|\$\{min_group_size\})")


def group_size_column(raw_sql: str, columns: Sequence[str]) -> str | None:
    """The column the board thresholds on ``min_group_size`` (``g.universe`` -> ``universe``),
    if the query returns it; else the first of GROUP_SIZE_COLUMNS that it returns."""
    for m in THRESHOLD.finditer(raw_sql):
        if m.group(1) in columns:
            return m.group(1)
    return next((c for c in GROUP_SIZE_COLUMNS if c in columns), None)


def suppress_panel(panel: PanelData, raw_sql: str, k: int) -> PanelData:
    """``panel`` with groups under ``k`` people and their complements blanked and flagged.

    Cells are told apart by the group columns; every other non-numeric column (time, metric,
    dimension) tells tables apart. A group size the store gave as NULL counts as small.
    """
    groups = [c for c in panel.columns if c in GROUP_COLUMNS]
    if not groups or not panel.rows:
        return panel
    size = group_size_column(raw_sql, panel.columns)
    if size is None:
        panel.rows, panel.suppressed = [], []
        panel.note = "withheld: no column of the query says how many people each group holds"
        return panel
    numeric = {c for i, c in enumerate(panel.columns) if any(is_number(r[i]) for r in panel.rows)}
    within = [c for c in panel.columns if c not in groups and c not in numeric]
    also = [c for c in numeric if c != size and c not in KEEP_COLUMNS]
    records = panel.records()
    unknown = set()
    for n, r in enumerate(records):
        v = as_float(r[size])
        if v is None:  # the store hid it already: keep it hidden, count it small
            unknown.add(n)
        r[size] = 1 if v is None else int(v)
    shared = protect(
        records, size, k, by=groups, within=within, also=also, flag="_flag", suppress_zeros=True
    )
    panel.rows = [[r[c] for c in panel.columns] for r in shared.rows]
    panel.suppressed = [r["_flag"] for r in shared.rows]
    for n in unknown:
        panel.rows[n][panel.columns.index(size)] = None
        panel.suppressed[n] = panel.suppressed[n] or "small"
    panel.group_size = size
    return panel
