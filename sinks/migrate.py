"""Apply sinks/ddl/NNN_name.sql in order, once each, recording them in schema_migrations."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from core.errors import StoreError

log = logging.getLogger(__name__)

DDL_DIR = Path(__file__).with_name("ddl")
_FILE = re.compile(r"^(\d+)_([\w.-]+)\.sql$")

SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


def ddl_files(directory: Path = DDL_DIR) -> list[tuple[int, str, Path]]:
    """(version, name, path) of every DDL file, by version."""
    found = []
    for path in directory.glob("*.sql"):
        m = _FILE.match(path.name)
        if m is None:
            raise StoreError(f"DDL file {path.name} must be named NNN_name.sql")
        found.append((int(m.group(1)), m.group(2), path))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two DDL files share a version in {directory}")
    return found


def split_statements(sql: str) -> list[str]:
    """Statements of a DDL file: ';' ends a statement only at the end of a line."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    statements, current = [], []
    for line in lines:
        if line.rstrip().endswith(";"):
            current.append(line.rstrip()[:-1])
            statements.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


def applied_versions(client: Any) -> set[int]:
    rows = client.query("SELECT version FROM schema_migrations").result_rows
    return {int(r[0]) for r in rows}


def migrate(client: Any, directory: Path = DDL_DIR) -> list[str]:
    """Apply the DDL files not yet applied; returns their file names (idempotent)."""
    try:
        client.command(SCHEMA_MIGRATIONS)
        done = applied_versions(client)
    except Exception as exc:
        raise StoreError(f"cannot read schema_migrations: {exc}") from exc
    applied = []
    for version, name, path in ddl_files(directory):
        if version in done:
            continue
        for statement in split_statements(path.read_text()):
            try:
                client.command(statement)
            except Exception as exc:
                raise StoreError(f"DDL {path.name} failed: {exc}") from exc
        try:
            client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
        except Exception as exc:
            raise StoreError(f"cannot record DDL {path.name} as applied: {exc}") from exc
        applied.append(path.name)
    if applied:
        log.info("applied %d DDL files: %s", len(applied), ", ".join(applied))
    return applied
