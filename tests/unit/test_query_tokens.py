"""Query-door credentials: hashed at rest, 0600 from the first byte, reloaded when changed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.config import write_private
from core.errors import ConfigError
from core.settings import QuerySettings, Settings
from fieldstream.cli import app
from sinks.query_tokens import (
    Credentials,
    Principal,
    add_token,
    admin_token,
    digest,
    load_tokens,
    revoke_token,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_files_are_private_from_the_first_byte(tmp_path: Path) -> None:
    old = os.umask(0)  # the widest umask: the mode must not come from it
    try:
        target = tmp_path / "deep" / "secret.txt"
        stale = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        stale.parent.mkdir(parents=True)
        stale.write_text("left by a crash")
        stale.chmod(0o666)
        write_private(target, "s3cret")
        assert target.read_text() == "s3cret" and mode(target) == 0o600
        assert not stale.exists()
        write_private(target, "again")  # replacing keeps the mode
        assert target.read_text() == "again" and mode(target) == 0o600
    finally:
        os.umask(old)


def test_tokens_are_hashed_at_rest_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    token = add_token(path, "ana", "analyst", "org-a")
    boss = add_token(path, "boss", "admin", None)
    assert token.startswith("fsq_") and len(token) > 40
    assert token not in path.read_text() and digest(token) in path.read_text()
    assert mode(path) == 0o600
    creds = Credentials(path, "the-admin-token")
    assert creds.authenticate(f"Bearer {token}") == Principal("ana", "analyst", "org-a")
    assert creds.authenticate(f"Bearer {boss}") == Principal("boss", "admin", None)
    assert creds.authenticate("Bearer the-admin-token") == Principal("admin", "admin")
    for bad in (None, "", token, f"Basic {token}", f"Bearer {token}x", "Bearer ", "Bearer a b"):
        assert creds.authenticate(bad) is None
    assert revoke_token(path, "ana") and not revoke_token(path, "ana")
    os.utime(path, ns=(1, 1))  # a changed file, whatever the clock's resolution
    assert creds.authenticate(f"Bearer {token}") is None
    assert [t.id for t in load_tokens(path)] == ["boss"]


def test_bad_token_files_and_entries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    with pytest.raises(ConfigError, match="names its org"):
        add_token(path, "ana", "analyst", None)
    with pytest.raises(ConfigError, match="no org"):
        add_token(path, "root", "admin", "org-a")
    with pytest.raises(ConfigError):
        add_token(path, "bad id!", "analyst", "org-a")
    add_token(path, "ana", "analyst", "org-a")
    with pytest.raises(ConfigError, match="exists"):
        add_token(path, "ana", "analyst", "org-b")
    path.write_text("tokens:\n  - {id: x, role: analyst, org: o, sha256: secret-looking}\n")
    with pytest.raises(ConfigError, match=r"tokens\.0\.sha256") as err:
        load_tokens(path)
    assert "secret-looking" not in str(err.value)
    with pytest.raises(ConfigError, match="admin token"):
        Credentials(path, "")


def test_a_broken_file_keeps_the_tokens_in_force(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    token = add_token(path, "ana", "analyst", "org-a")
    creds = Credentials(path, "admin")
    path.write_text("tokens: [oops")
    os.utime(path, ns=(2, 2))
    assert creds.authenticate(f"Bearer {token}") == Principal("ana", "analyst", "org-a")


def test_admin_token_from_settings_or_a_private_file(tmp_path: Path) -> None:
    query = Settings(data_dir=tmp_path).query
    assert admin_token(query) == ""  # nothing yet, nothing made
    made = admin_token(query, create=True)
    assert made and admin_token(query) == made and mode(query.admin_token_file) == 0o600
    configured = QuerySettings(admin_token="from-settings", admin_token_file=tmp_path / "none")
    assert admin_token(configured, create=True) == "from-settings"
    assert not (tmp_path / "none").exists()


def test_query_token_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(app, ["query-token", "add", "ana", "--org", "org-a"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("fsq_")
    assert runner.invoke(app, ["query-token", "add", "x"]).exit_code != 0  # neither
    assert runner.invoke(app, ["query-token", "add", "x", "--org", "o", "--admin"]).exit_code
    listed = runner.invoke(app, ["query-token", "list"])
    assert listed.stdout.strip() == "ana\tanalyst\torg-a" and token not in listed.stdout
    assert runner.invoke(app, ["query-token", "revoke", "ana"]).exit_code == 0
    assert runner.invoke(app, ["query-token", "revoke", "ana"]).exit_code != 0
