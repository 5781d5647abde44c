"""Load the demo voter file into a real Tansu topic and read it back."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from fieldstream.kafka import consumer_config
from fieldstream.settings import KafkaSettings
from producers.demo import generate_demo
from producers.voterfile import load_voters
from schemas.codec import VOTER, AvroCodec

pytestmark = pytest.mark.integration


def _consume(kafka: KafkaSettings, topic: str, want: int) -> dict[str, dict[str, Any]]:
    conf = consumer_config(kafka, f"check-{topic}", fetch_wait_ms=20, session_timeout_s=6.0)
    consumer = Consumer(conf)
    consumer.subscribe([topic])
    codec = AvroCodec()
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    try:
        while len(seen) < want and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                key, value = msg.key(), msg.value()
                if msg.error() is None and key is not None and value is not None:
                    _, rec = codec.decode(value, expect=VOTER)
                    seen[key.decode()] = rec
    finally:
        consumer.close()
    return seen


def test_demo_voters_round_trip(tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    paths = generate_demo(tmp_path, today=dt.date(2026, 10, 14))
    summary = load_voters(paths.voters, paths.voters_mapping, kafka_settings)
    assert summary.sent == 4000 and summary.rejected == 0
    assert "4000 voters" in str(summary)
    seen = _consume(kafka_settings, kafka_settings.topics.voters, 4000)
    assert len(seen) == 4000
    first = seen["ZZ:ZZ000001"]
    assert first["voter_id"] == "ZZ000001" and first["state"] == "ZZ"
    assert first["county"] == "Birch" and first["precinct"] == "BIR-07"
    assert first["birth_year"] == 1995 and first["sex"] == "female"
    assert {r["race_source"] for r in seen.values()} == {
        "self_reported",
        "vendor_model",
        "bisg",
        "unknown",
    }


def test_skip_bad_sends_good_rows_and_writes_rejects(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    path = tmp_path / "v.csv"
    path.write_text("voter_id,state,sex\nA1,ZZ,female\nA2,ZZ,robot\nA3,ZZ,male\n")
    summary = load_voters(path, None, kafka_settings, skip_bad=True)
    assert (summary.sent, summary.rejected) == (2, 1)
    rejects = (tmp_path / "v.rejects.csv").read_text()
    assert "robot" in rejects and rejects.splitlines()[1].startswith("3,")
    seen = _consume(kafka_settings, kafka_settings.topics.voters, 2)
    assert set(seen) == {"ZZ:A1", "ZZ:A3"}
