"""The stream worker as a subprocess, and Kafka helpers for reading and writing topics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from core.config import OrgConfig, write_programs
from core.kafka import ensure_topics
from core.settings import KafkaSettings, Settings
from fieldstream.embedded import free_port
from fieldstream.stack import settings_env

REPO = Path(__file__).resolve().parents[2]


def stream_settings(
    tmp_path: Path, kafka_settings: KafkaSettings, app_prefix: str, **stream: Any
) -> Settings:
    """Settings for a worker of org-a's campaign gotv on the test's topics (created)."""
    programs = tmp_path / "programs.yaml"
    write_programs(programs, [OrgConfig(id="org-a", campaigns=["gotv"])])
    s = Settings(data_dir=tmp_path / "data", kafka=kafka_settings, log_level="INFO")
    s.stream.programs_file = programs
    s.stream.web_port = free_port()
    s.stream.app_id = f"{app_prefix}-{uuid.uuid4().hex[:8]}"
    s.stream.session_timeout_s = 3.0
    for name, value in stream.items():
        setattr(s.stream, name, value)
    ensure_topics(s.kafka)
    return s


class Worker:
    """``python -m streams`` as a subprocess with the test's settings."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.stream.web_host}:{self.settings.stream.web_port}"

    def start(self, timeout_s: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
        env.update(settings_env(self.settings), PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited: {self.log_path.read_text()[-3000:]}"
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=1.0)
                if r.status_code == 200:
                    assert r.json()["ready"] is True
                    return
                assert r.status_code == 503
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            f"worker not ready in {timeout_s}s: {self.log_path.read_text()[-3000:]}"
        )

    def metrics_text(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text

    def metric(self, name: str) -> float:
        total = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_until(check: Any, timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) on ``topic``, read to the end of each partition."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "test-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        pending, out = set(parts), []
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for m in c.consume(1000, 0.2):
                err, value = m.error(), m.value()
                if err is None and value is not None:
                    out.append((m.key(), value))
                elif err is not None and err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
        assert not pending, f"could not read {topic} to its end"
        return out
    finally:
        c.close()


def produce(p: Producer, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    for key, value in records:
        p.produce(topic, value=value, key=key)
    assert p.flush(30) == 0
