"""What the query door lets through: one SELECT over fieldstream's own tables and views.

The statement is parsed by ClickHouse's own parser (``parseQueryToJSON``, which chDB runs in
this process; see :class:`ClickHouseParser`) and the tree, never the text, is checked. It must be
one SELECT (UNION, INTERSECT and EXCEPT of SELECTs included) that

- names only tables and views of the catalogue (the store's own database; no system tables,
  no other database, no materialized-view objects), or the names of its own WITH clauses;
- calls no table function (file, url, s3, remote, merge, numbers, ... any) and reads no table
  by name after IN (``x IN t``: write ``x IN (SELECT ...)``);
- changes no setting (a SETTINGS clause anywhere), writes no file (INTO OUTFILE), picks no
  FORMAT and takes no query parameters;
- calls no function of the denied set: sleeping, files, dictionaries, reading settings or the
  server's identity, introspection, models and AI functions (:func:`denied_functions`);
- is built only of node types this module knows: anything else is refused, not guessed.

Before parsing, the text itself is refused when it is too long or holds control or invisible
characters (zero-width spaces, bidirectional overrides, non-ASCII spaces), which can make a
query read differently to a person than to the parser. Comments are no concern: the parser
drops them, and what runs is the checked tree formatted back to SQL by ClickHouse
(``formatQueryFromJSON``), so the statement executed is the statement checked.

This is the first lock, not the only one: the door also runs every query with ``readonly=1``,
time, memory and result limits, and, for an analyst, a filter on every table with org data.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import StoreError
from sinks.sql import string_literal


class QueryRefused(StoreError):
    """The door will not run this statement; the message says why and what is allowed."""


# Tables without org_id that every analyst may read: the voter file and its pseudonyms are the
# program's shared reference data, not any org's rows. Any other table without org_id stays out
# of the catalogue (fail closed: a new table with org data but no org_id column is not exposed).
# The ledger keeper's tables without org_id hold no org's rows either: its marks (keeper_state),
# the dense numbers of voters (person_numbers) and freshness quantiles (freshness_5m).
SHARED_TABLES = frozenset(
    {"voters", "voter_pseudonyms", "keeper_state", "person_numbers", "freshness_5m"}
)

# Function categories of system.functions that no query needs and that reach past the data.
DENIED_CATEGORIES = frozenset(
    {"AI", "Dictionary", "Embedded Dictionary", "Introspection", "Machine Learning", "Internal"}
)
# Named functions (compared case-insensitively; aliases of these are denied too).
DENIED_FUNCTIONS = frozenset(
    name.lower()
    for name in (
        # stalling: a query may not hold the store
        "sleep", "sleepEachRow",
        # files, and tables or dictionaries read by a name in a string
        "file", "joinGet", "joinGetOrNull", "hasColumnInTable", "dictGet", "dictHas",
        "catboostEvaluate", "modelEvaluate", "naiveBayesClassifier",
        # settings and the server's state and identity
        "getSetting", "getSettingOrDefault", "getServerSetting", "getMergeTreeSetting",
        "getMacro", "globalVariable", "getClientHTTPHeader", "filesystemAvailable",
        "filesystemCapacity", "filesystemUnreserved", "getOSKernelVersion", "hostName",
        "FQDN", "fullHostName", "uptime", "serverUUID", "getServerPort", "tcpPort",
        "displayName", "buildId", "currentUser", "authUser", "currentRoles", "enabledRoles",
        "defaultRoles", "currentProfiles", "enabledProfiles", "defaultProfiles",
        "zookeeperSessionUptime", "connectionId", "currentHandler",
        # writes or side effects
        "logTrace", "generateSerialID", "transactionID", "transactionLatestSnapshot",
        "transactionOldestSnapshot", "throwIfNotConst",
    )
)  # fmt: skip
# IN and its kin: the right side may not be a bare name (which ClickHouse reads as a table).
IN_FUNCTIONS = frozenset(
    n.lower() for n in ("in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn",
                        "globalNullIn", "globalNotNullIn")
)  # fmt: skip
IN_RIGHT_SIDES = frozenset({"Subquery", "Literal"})
IN_RIGHT_FUNCTIONS = frozenset({"tuple", "array"})

TOP_LEVEL = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery"})
NODE_TYPES = TOP_LEVEL | frozenset(
    {
        "SelectQuery", "ExpressionList", "TablesInSelectQuery", "TablesInSelectQueryElement",
        "TableExpression", "TableIdentifier", "TableJoin", "ArrayJoin", "Subquery",
        "WithElement", "Identifier", "Literal", "Function", "Asterisk", "QualifiedAsterisk",
        "ColumnsRegexpMatcher", "ColumnsListMatcher", "QualifiedColumnsRegexpMatcher",
        "QualifiedColumnsListMatcher", "ColumnsTransformerList", "ColumnsApplyTransformer",
        "ColumnsExceptTransformer", "ColumnsReplaceTransformer",
        "ColumnsReplaceTransformerReplacement", "OrderByElement", "InterpolateElement",
        "WindowDefinition", "WindowListElement", "SampleRatio",
    }
)  # fmt: skip
SYSTEM_DATABASES = frozenset({"system", "information_schema"})
_SCOPE = re.compile(r"\s*:?\s*In scope .*$", re.S)
_VERSION = re.compile(r"\s*\(version [^)]*\)\.?$")


@dataclass(frozen=True)
class Catalog:
    """What the door may read: the store's database, its tables and views for queries, and
    which of them hold org data (filtered per analyst)."""

    database: str
    tables: frozenset[str]
    org_tables: frozenset[str]

    def org_filters(self, org: str) -> dict[str, str]:
        """``additional_table_filters`` of an analyst of ``org``: every org table, by full name
        (ClickHouse applies them wherever a table is read, views included)."""
        literal = string_literal(org)
        return {f"{self.database}.{t}": f"org_id = {literal}" for t in sorted(self.org_tables)}


@dataclass(frozen=True)
class Approved:
    """A statement that passed: the SQL to run (formatted from the checked tree) and the
    tables and views it names."""

    sql: str
    tables: frozenset[str]


def build_catalog(database: str, tables: Iterable[tuple[str, str, bool]]) -> Catalog:
    """From (name, engine, has org_id) of the database's tables: views, tables with org_id and
    the shared tables; materialized-view objects and other tables stay out."""
    readable, org = set(), set()
    for name, engine, has_org in tables:
        if engine == "MaterializedView" or name.startswith("."):
            continue
        if engine == "View" or has_org or name in SHARED_TABLES:
            readable.add(name)
            if has_org and engine != "View":
                org.add(name)
    return Catalog(database, frozenset(readable), frozenset(org))


def denied_functions(rows: Iterable[tuple[str, str, str]]) -> frozenset[str]:
    """The denied names (lower case) from system.functions rows (name, alias_to, categories):
    DENIED_FUNCTIONS, every function of a DENIED_CATEGORIES category, and their aliases."""
    rows = list(rows)
    denied = set(DENIED_FUNCTIONS)
    for name, _alias_to, categories in rows:
        if any(c.strip() in DENIED_CATEGORIES for c in categories.split(",")):
            denied.add(name.lower())
    for name, alias_to, _categories in rows:
        if alias_to and alias_to.lower() in denied:
            denied.add(name.lower())
    return frozenset(denied)


def check_text(sql: str, max_bytes: int) -> str:
    """The text if it may go to the parser: not empty, not too long, and free of control and
    invisible characters (tab, newline and carriage return allowed)."""
    if not sql.strip():
        raise QueryRefused("empty query: send one SELECT statement as the request body")
    size = len(sql.encode("utf-8"))
    if size > max_bytes:
        raise QueryRefused(f"the query is {size} bytes; at most {max_bytes} are accepted")
    for position, ch in enumerate(sql):
        code = ord(ch)
        if code < 0x80:
            bad = (code < 0x20 and ch not in "\t\n\r") or code == 0x7F
        else:
            bad = unicodedata.category(ch)[0] in "CZ"  # controls, format, unassigned, spaces
        if bad:
            name = unicodedata.name(ch, "a control character")
            raise QueryRefused(
                f"the query holds U+{code:04X} ({name}) at character {position}: only visible "
                "characters, spaces, tabs and newlines are accepted; retype that part"
            )
    return sql


def _refuse_keys(node: dict[str, Any]) -> None:
    if "settings" in node:
        raise QueryRefused("a query may not change settings (SETTINGS): the door sets them")
    if "out_file" in node or node.get("is_into_outfile_with_stdout") or "compression" in node:
        raise QueryRefused("INTO OUTFILE is not allowed: results come back in the answer")
    if "format_ast" in node:
        raise QueryRefused("FORMAT is not allowed: results come back as JSON")


def _table(node: dict[str, Any], catalog: Catalog, ctes: set[str]) -> str:
    parts = node.get("name_parts") or [node.get("name", "")]
    if len(parts) > 2:
        raise QueryRefused(f"{node.get('name')!r} is not a table name")
    table = str(parts[-1])
    database = str(parts[0]) if len(parts) == 2 else None
    if database is not None and database.lower() in SYSTEM_DATABASES:
        raise QueryRefused(
            f"system tables are not allowed ({database}.{table}); fieldstream's tables and "
            "views are listed in docs/analytics.md"
        )
    if database is not None and database != catalog.database:
        raise QueryRefused(f"only the tables of database {catalog.database} may be read")
    if database is None and table in ctes:
        return table
    if table not in catalog.tables:
        raise QueryRefused(
            f"unknown table or view {table!r}: the door reads fieldstream's tables and views "
            "(docs/analytics.md)"
        )
    return table


def _function(node: dict[str, Any], denied: frozenset[str]) -> None:
    name = str(node.get("name", ""))
    if name.lower() in denied:
        raise QueryRefused(f"function {name} is not allowed through the query door")
    if name.lower() in IN_FUNCTIONS:
        args = (node.get("arguments") or {}).get("children") or []
        right = args[1] if len(args) == 2 else {}
        kind = right.get("type")
        ok = kind in IN_RIGHT_SIDES or (
            kind == "Function" and str(right.get("name", "")).lower() in IN_RIGHT_FUNCTIONS
        )
        if not ok:
            raise QueryRefused(
                f"{name.upper()} needs a list or a subquery on its right: write "
                "x IN (SELECT ...), not x IN table"
            )


def _nodes(tree: Any) -> Iterable[dict[str, Any]]:
    """Every node (a dict with a "type") of the tree, depth first, without recursion."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "type" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_tree(tree: dict[str, Any], catalog: Catalog, denied: frozenset[str]) -> frozenset[str]:
    """The tables and views a parsed statement names, if the door allows it; else
    QueryRefused naming the first problem."""
    kind = str(tree.get("type", ""))
    if kind not in TOP_LEVEL:
        word = kind.removesuffix("Query").upper() or "this statement"
        raise QueryRefused(f"only SELECT statements are allowed, not {word}")
    nodes = list(_nodes(tree))
    ctes = {str(n["name"]) for n in nodes if n["type"] == "WithElement" and "name" in n}
    tables = set()
    for node in nodes:
        kind = node["type"]
        _refuse_keys(node)
        if kind == "QueryParameter":
            raise QueryRefused("query parameters ({name:Type}) are not supported: write values")
        if kind not in NODE_TYPES:
            raise QueryRefused(f"the query door does not allow {kind} in a query")
        if kind == "TableExpression" and "table_function" in node:
            name = node["table_function"].get("name", "?")
            raise QueryRefused(
                f"table functions are not allowed ({name}): read fieldstream's tables and views"
            )
        if kind == "TableIdentifier":
            tables.add(_table(node, catalog, ctes))
        elif kind == "Function":
            _function(node, denied)
    return frozenset(tables)


def clean_error(exc: BaseException) -> str:
    """ClickHouse's message without the client's wrapping, the parser call's scope and the
    version, cut to a readable length."""
    text = str(exc)
    start = text.rfind("DB::Exception: ")
    if start >= 0:
        text = text[start + len("DB::Exception: ") :]
    text = _VERSION.sub("", _SCOPE.sub("", text)).strip()
    return text[:400]


class ClickHouseParser:
    """ClickHouse's parser on a chDB client in this process (``parseQueryToJSON``, ClickHouse
    26.8 and newer). One call parses the statement and formats the tree back to SQL."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.lock = threading.Lock()

    def parse(self, sql: str) -> tuple[dict[str, Any], str]:
        """(tree, formatted SQL); QueryRefused with ClickHouse's reason if it cannot."""
        try:
            with self.lock:
                rows = self.client.query(
                    "SELECT parseQueryToJSON({q:String}) AS tree, formatQueryFromJSON(tree)",
                    parameters={"q": sql},
                ).result_rows
        except Exception as exc:  # the parser's refusal arrives as the client's error
            reason = clean_error(exc)
            if "Multi-statements" in reason:
                raise QueryRefused(
                    "one statement per request: remove the ';' and what follows"
                ) from None
            if "JSON" in reason:  # a statement the JSON tree has no form for: never a SELECT
                raise QueryRefused(f"only SELECT statements are allowed ({reason})") from None
            raise QueryRefused(f"ClickHouse cannot read the query: {reason}") from None
        tree, formatted = rows[0]
        return json.loads(tree), str(formatted)

    def denied_functions(self) -> frozenset[str]:
        with self.lock:
            rows = self.client.query(
                "SELECT name, alias_to, categories FROM system.functions"
            ).result_rows
        return denied_functions((str(n), str(a or ""), str(c or "")) for n, a, c in rows)


def approve(
    sql: str, parser: ClickHouseParser, catalog: Catalog, denied: frozenset[str], max_bytes: int
) -> Approved:
    """Check ``sql`` as the module doc says; the statement to run, or QueryRefused."""
    tree, formatted = parser.parse(check_text(sql, max_bytes))
    return Approved(formatted, check_tree(tree, catalog, denied))
