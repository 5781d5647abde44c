"""Shared fixtures: a real Tansu broker and a fresh chDB directory, never mocks."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from core.settings import KafkaSettings, TopicNames
from fieldstream.embedded import free_port, start_tansu

# property tests assert what they find, never how fast: no per-example deadline (the machine
# is shared, and a slow example is not a wrong one)
hypothesis_settings.register_profile("fieldstream", deadline=None)
hypothesis_settings.load_profile("fieldstream")


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker for the whole test session; yields its bootstrap address."""
    port = free_port()
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    proc = start_tansu(port, log)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def kafka_settings(tansu: str, request: pytest.FixtureRequest) -> KafkaSettings:
    """Kafka settings with topic names unique to the test, so tests never share data."""
    suffix = request.node.name.replace("[", "_").replace("]", "").replace("/", "_")[:60]
    topics = TopicNames(
        raw=f"raw.{suffix}",
        enriched=f"enriched.{suffix}",
        dlq=f"dlq.{suffix}",
        voters=f"voters.{suffix}",
        raw_bulk=f"raw-bulk.{suffix}",
        enriched_bulk=f"enriched-bulk.{suffix}",
        corrections=f"corrections.{suffix}",
        suppressions=f"suppressions.{suffix}",
        signals=f"signals.{suffix}",
        shifts=f"shifts.{suffix}",
        writeback=f"writeback.{suffix}",
    )
    return KafkaSettings(bootstrap_servers=tansu, topics=topics)


@pytest.fixture
def chdb_dsn(tmp_path: Path) -> str:
    return f"chdb:///{tmp_path / 'chdb'}"
