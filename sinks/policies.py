"""Row policies: an org's analysts see only that org's rows, on every table that has them.

ClickHouse (server) enforces them; chDB has no access control (``CREATE ROW POLICY`` is
refused there), so the embedded default cannot enforce them and the tests check the
statements with ClickHouse's own parser (``formatQuery``) instead.

The shape, per org (a role, so adding an analyst is one GRANT):

- ``CREATE ROLE fs_org_<org>``, ``GRANT SELECT ON <db>.* TO fs_org_<org>``;
- on every table with an ``org_id`` column (found in ``system.columns``, so a table added
  later is covered the next time this runs), ``CREATE ROW POLICY fs_org_<org> ... USING
  org_id = '<org>' TO fs_org_<org>``. Views read through these tables, so they are filtered too;
- a policy ``fs_service`` with ``USING 1`` for fieldstream's own users (the sink, Grafana's
  admin datasource): once a table has any policy, ClickHouse shows nothing to users no policy
  names, which is the safe default for everyone else.

Policies only restrict users who cannot write (analysts get ``readonly = 1``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from core.errors import ConfigError, StoreError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _check(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise ConfigError(f"{kind} {value!r} must be 1-64 letters, digits, '_' or '-'")
    return value


def role_name(org_id: str) -> str:
    return f"fs_org_{_check('org id', org_id).replace('-', '_')}"


def _ident(name: str) -> str:
    return f"`{name}`"


def org_tables(client: Any, database: str = "default") -> list[str]:
    """The tables (not views) of ``database`` that have an ``org_id`` column."""
    try:
        rows = client.query(
            "SELECT c.table FROM system.columns AS c "
            "JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
            "WHERE c.database = {db:String} AND c.name = 'org_id' "
            "AND t.engine NOT IN ('View', 'MaterializedView') ORDER BY c.table",
            parameters={"db": database},
        ).result_rows
    except Exception as exc:
        raise StoreError(f"cannot list the tables of {database}: {exc}") from exc
    return [str(r[0]) for r in rows]


def policy_statements(
    tables: Sequence[str],
    org_ids: Iterable[str],
    service_users: Sequence[str],
    database: str = "default",
) -> list[str]:
    """Roles, grants and row policies for ``org_ids`` on ``tables`` (idempotent)."""
    db = _ident(_check("database", database))
    services = ", ".join(_ident(_check("service user", u)) for u in service_users)
    if not services:
        raise ConfigError("name at least one service user (the sink's) or it sees no rows")
    out: list[str] = []
    orgs = sorted(set(org_ids))
    for org in orgs:
        role = _ident(role_name(org))
        out += [f"CREATE ROLE IF NOT EXISTS {role}", f"GRANT SELECT ON {db}.* TO {role}"]
    for table in tables:
        target = f"{db}.{_ident(_check('table', table))}"
        out.append(
            f"CREATE ROW POLICY OR REPLACE fs_service ON {target} FOR SELECT USING 1 TO {services}"
        )
        for org in orgs:
            role = role_name(org)
            out.append(
                f"CREATE ROW POLICY OR REPLACE {_ident(role)} ON {target} FOR SELECT "
                f"USING org_id = '{org}' TO {_ident(role)}"
            )
    return out


def analyst_statements(org_id: str, user: str, password_sha256_hex: str) -> list[str]:
    """A read-only analyst of one org (the password given only as its SHA-256, never plain)."""
    if not _HEX64.match(password_sha256_hex):
        raise ConfigError("give the analyst's password as its SHA-256 in lower-case hex")
    name, role = _ident(_check("user", user)), _ident(role_name(org_id))
    return [
        f"CREATE USER IF NOT EXISTS {name} IDENTIFIED WITH sha256_hash BY "
        f"'{password_sha256_hex}' DEFAULT ROLE {role} SETTINGS readonly = 1",
        f"GRANT {role} TO {name}",
    ]


def apply(client: Any, statements: Sequence[str]) -> None:
    """Run the statements on a ClickHouse server; chDB cannot (it has no access control)."""
    for statement in statements:
        try:
            client.command(statement)
        except Exception as exc:
            raise StoreError(
                f"the store refused a policy statement ({exc}); row policies need a ClickHouse "
                "server and a user allowed to manage access (chDB has no access control)"
            ) from exc
