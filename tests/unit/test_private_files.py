"""Personal data and secrets at rest: the data directory is 0700, every file a fieldstream
process makes is its user's only (umask 077), secrets files are 0600 from their first byte, and
a secrets file other users can read is refused when loaded (sources.yaml, keys.yaml)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import SourceConfig, load_sources, write_sources
from core.errors import ConfigError
from core.settings import load_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0)  # the widest: any private mode must come from the code, not from it
    try:
        yield
    finally:
        os.umask(old)


def test_sources_are_written_private_and_refused_when_not(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "sources.yaml"
    source = SourceConfig.model_validate({"id": "s", "org_id": "o", "secrets": ["t0p-secret"]})
    write_sources(path, [source])
    assert mode(path) == 0o600
    assert list(load_sources(path)) == ["s"]
    path.chmod(0o640)  # the service's group may read it
    assert list(load_sources(path)) == ["s"]
    for wide in (0o644, 0o604, 0o620):
        path.chmod(wide)
        with pytest.raises(ConfigError, match="chmod 600") as err:
            load_sources(path)
        assert "t0p-secret" not in str(err.value)


def test_entry_points_make_the_data_directory_and_files_private(
    tmp_path: Path, umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = tmp_path / "fresh" / "var"
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(fresh))
    settings = load_settings()
    assert settings.data_dir == fresh and mode(fresh) == 0o700
    made = fresh / "logs.txt"
    made.write_text("a log line")
    assert mode(made) == 0o600  # the process's umask is 077 from now on
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(old))
    load_settings()
    assert mode(old) == 0o700  # an existing data directory of ours is closed too
