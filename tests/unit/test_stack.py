"""The child processes of `fieldstream up` must read back exactly the settings of the parent."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import Settings
from fieldstream.stack import port_is_free, settings_env


def test_settings_survive_the_trip_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = Settings(data_dir=tmp_path)
    parent.kafka.bootstrap_servers = "127.0.0.1:19999"
    parent.kafka.topics.raw = "raw.custom"
    parent.gateway.port = 18080
    parent.stream.dedupe_horizon_s = 3600
    parent.clickhouse.dsn = SecretStr("chdb:///somewhere/else")
    parent.stream.programs_file = tmp_path / "p.yaml"
    for key, value in settings_env(parent).items():
        monkeypatch.setenv(key, value)
    child = Settings()
    assert child.model_dump() == parent.model_dump()
    assert child.clickhouse.dsn.get_secret_value() == "chdb:///somewhere/else"


def test_port_is_free_sees_a_bound_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not port_is_free("127.0.0.1", s.getsockname()[1])
