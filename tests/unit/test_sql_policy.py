"""The query door's pure checks: the text before parsing, the catalogue, the denied functions
and the tree walk on trees in ClickHouse's JSON form. The parser itself (chDB) and every bypass
on real trees are in tests/integration/test_query_door.py."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinks.sql_policy import (
    QueryRefused,
    build_catalog,
    check_text,
    check_tree,
    clean_error,
    denied_functions,
)

CATALOG = build_catalog(
    "default",
    [
        ("contact_events", "ReplacingMergeTree", True),
        ("contact_progress_daily", "View", True),  # a view: readable, filtered through its table
        ("contact_rollup_daily_mv", "MaterializedView", True),
        ("voters", "ReplacingMergeTree", False),
        ("schema_migrations", "ReplacingMergeTree", False),
        ("notes", "MergeTree", False),  # a table without org_id that is not shared: left out
    ],
)
DENIED = denied_functions([("sleep", "", ""), ("SLEEP_ALIAS", "sleep", ""), ("aiX", "", "AI")])


def test_catalog_keeps_views_org_tables_and_shared_tables_only() -> None:
    assert CATALOG.tables == {"contact_events", "contact_progress_daily", "voters"}
    assert CATALOG.org_tables == {"contact_events"}
    assert CATALOG.org_filters("o'x") == {"default.contact_events": "org_id = 'o\\'x'"}


def test_denied_functions_by_name_category_and_alias() -> None:
    assert {"sleep", "sleep_alias", "aix", "file", "getsetting", "joinget"} <= DENIED
    assert "count" not in DENIED


def select(*, tables: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    query: dict[str, Any] = {"type": "SelectQuery", **extra}
    if tables:
        query["tables"] = {
            "type": "TablesInSelectQuery",
            "children": [
                {"type": "TablesInSelectQueryElement", "table_expression": t} for t in tables
            ],
        }
    return {
        "type": "SelectWithUnionQuery",
        "list_of_selects": {"type": "ExpressionList", "children": [query]},
    }


def table(name: str) -> dict[str, Any]:
    parts = name.split(".")
    ident: dict[str, Any] = {"type": "TableIdentifier", "name": name}
    if len(parts) == 2:
        ident["name_parts"] = parts
    return {"type": "TableExpression", "database_and_table_name": ident}


def function(name: str, *args: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Function",
        "name": name,
        "arguments": {"type": "ExpressionList", "children": list(args)},
    }


IDENT = {"type": "Identifier", "name": "x"}


def test_a_plain_select_names_its_tables() -> None:
    tree = select(tables=[table("default.contact_events"), table("contact_progress_daily")])
    assert check_tree(tree, CATALOG, DENIED) == {"contact_events", "contact_progress_daily"}


@pytest.mark.parametrize(
    "tree,reason",
    [
        ({"type": "InsertQuery"}, "not INSERT"),
        (select(tables=[table("system.tables")]), "system tables"),
        (select(tables=[table("schema_migrations")]), "unknown table"),
        (select(tables=[table("contact_rollup_daily_mv")]), "unknown table"),
        (select(tables=[table("elsewhere.contact_events")]), "database default"),
        (
            select(tables=[{"type": "TableExpression", "table_function": function("file")}]),
            r"not allowed \(file\)",
        ),
        (select(settings={"type": "SetQuery"}), "SETTINGS"),
        ({**select(), "out_file": {"type": "Literal"}}, "INTO OUTFILE"),
        ({**select(), "format_ast": IDENT}, "FORMAT"),
        (
            select(select={"type": "ExpressionList", "children": [function("SLEEP_ALIAS")]}),
            "function SLEEP_ALIAS",
        ),
        (select(where=function("in", IDENT, {"type": "Identifier", "name": "voters"})), "IN"),
        (select(where=function("notIn", IDENT, function("file"))), "NOTIN"),
        (select(where={"type": "QueryParameter", "name": "p"}), "query parameters"),
        (select(where={"type": "SomethingNew"}), "does not allow SomethingNew"),
    ],
)
def test_refused_trees(tree: dict[str, Any], reason: str) -> None:
    with pytest.raises(QueryRefused, match=reason):
        check_tree(tree, CATALOG, DENIED)


def test_with_names_may_be_read_and_in_takes_lists_and_subqueries() -> None:
    cte = {"type": "WithElement", "name": "recent", "subquery": {"type": "Subquery"}}
    tree = select(
        tables=[table("recent")],
        with_={"type": "ExpressionList", "children": [cte]},
        where=function("in", IDENT, function("tuple", IDENT)),
    )
    assert check_tree(tree, CATALOG, DENIED) == {"recent"}
    with pytest.raises(QueryRefused, match="database default"):
        check_tree(select(tables=[table("other.recent")], w=cte), CATALOG, DENIED)


def test_text_checks() -> None:
    assert check_text("SELECT 'Núñez'\n\tFROM voters\r\n", 100)
    with pytest.raises(QueryRefused, match="empty"):
        check_text(" \n", 100)
    with pytest.raises(QueryRefused, match="101 bytes"):
        check_text("x" * 101, 100)
    with pytest.raises(QueryRefused, match=r"U\+200D"):
        check_text("SELECT 1\u200d", 100)


ODD = st.characters(
    codec="utf-8", categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp"], exclude_characters="\t\n\r "
)


@given(
    st.text(st.characters(codec="ascii", min_codepoint=32, max_codepoint=126)),
    ODD,
    st.integers(min_value=0),
)
def test_any_control_or_invisible_character_is_refused(text: str, odd: str, at: int) -> None:
    at = at % (len(text) + 1)
    with pytest.raises(QueryRefused, match=f"U\\+{ord(odd):04X}"):
        check_text("SELECT " + text[:at] + odd + text[at:], 10_000)


@given(st.text(st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S"]), min_size=1))
def test_visible_text_passes(text: str) -> None:
    assert all(unicodedata.category(c)[0] not in "CZ" for c in text)
    assert check_text(text, 1_000_000) == text


def test_clean_error_drops_the_wrapping() -> None:
    raw = (
        "HTTPDriver error: Code: 62. DB::Exception: Syntax error: failed at position 9: "
        "In scope SELECT parseQueryToJSON('SELECT 1; x'). (SYNTAX_ERROR) (version 26.9.2.1)"
    )
    assert clean_error(Exception(raw)) == "Syntax error: failed at position 9"
