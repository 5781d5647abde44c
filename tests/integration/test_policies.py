"""Row policies on the engine the tests have: chDB cannot enforce them (it has no access
control and refuses CREATE ROW POLICY), so the statements are checked by ClickHouse's own
parser, and the tables they cover are every table with org_id after the migrations."""

from __future__ import annotations

import hashlib

import pytest

from core.errors import ConfigError, StoreError
from sinks.migrate import migrate
from sinks.policies import analyst_statements, apply, org_tables, policy_statements
from sinks.store import open_store

pytestmark = pytest.mark.integration


def test_policies_cover_every_org_table_and_parse(chdb_dsn: str) -> None:
    client = open_store(chdb_dsn)
    try:
        migrate(client)
        tables = org_tables(client)
        # the base tables and every rollup behind the views
        assert {"contact_events", "contact_rollup_daily", "contact_rollup_5m"} <= set(tables)
        assert {"canvasser_rollup_daily", "goals", "universes", "dead_letters"} <= set(tables)
        assert {"partner_contacts", "exchange_audit"} <= set(tables)  # the exchange's too
        assert "contact_progress_daily" not in tables  # views are filtered through tables
        password = hashlib.sha256(b"analyst-password").hexdigest()
        statements = policy_statements(tables, ["org-a", "org_b"], ["fieldstream", "default"])
        statements += analyst_statements("org-a", "ana", password)
        per_table = [s for s in statements if "ON `default`.`contact_events`" in s]
        assert len(per_table) == 3  # the service policy and one per org
        assert any("USING org_id = 'org-a' TO `fs_org_org_a`" in s for s in per_table)
        for statement in statements:
            formatted = client.query("SELECT formatQuery({q:String})", parameters={"q": statement})
            assert formatted.result_rows[0][0]  # ClickHouse's parser accepts it
        # chDB itself refuses to enforce them, with a message that says why
        with pytest.raises(StoreError, match="ClickHouse server"):
            apply(client, statements[:3])
    finally:
        client.close()


@pytest.mark.parametrize("bad", ["org'; DROP TABLE x", "", "a b", "x" * 65])
def test_names_that_could_break_the_sql_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        policy_statements(["contact_events"], [bad], ["fieldstream"])


def test_passwords_only_as_hashes_and_service_users_required() -> None:
    with pytest.raises(ConfigError, match="SHA-256"):
        analyst_statements("org-a", "ana", "plain-password")
    with pytest.raises(ConfigError, match="service user"):
        policy_statements(["contact_events"], ["org-a"], [])
