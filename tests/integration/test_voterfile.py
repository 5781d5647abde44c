"""Voter files on real Tansu (and, for reloads, the real sink on chDB).

* the demo voter file round-trips through the voters topic; --skip-bad sends the good rows;
* an NC file loaded, two rows changed, loaded again: the voters table (through
  ``python -m sinks``) has each voter once, with the changed values.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer

from core.kafka import consumer_config, ensure_topics
from core.settings import ClickHouseSettings, KafkaSettings, Settings, SinkSettings
from fieldstream.embedded import free_port
from fieldstream.stack import settings_env
from producers.demo.state import generate_demo
from producers.voterfile import load_voters
from schemas.codec import VOTER, AvroCodec
from sinks.remote import HttpSinkAccess, connect_store

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


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


# --- reload through the sink: changed rows update, nothing doubles -------------------------

DATA = REPO / "tests" / "data" / "voterfiles"


@pytest.fixture
def sink(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[Settings]:
    """``python -m sinks`` on its own chDB directory, reading this test's topics."""
    ensure_topics(kafka_settings)
    settings = Settings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        clickhouse=ClickHouseSettings(dsn=f"chdb://{tmp_path / 'chdb'}"),
        sink=SinkSettings(
            group_id=f"sink-{uuid.uuid4().hex[:8]}",
            query_port=free_port(),
            flush_interval_s=0.1,
            session_timeout_s=4.0,
        ),
    )
    log = open(tmp_path / "sink.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "sinks"],
        cwd=REPO,
        env={**os.environ, **settings_env(settings)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield settings
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass  # the sink's query port is not up yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_reload_updates_changed_voters_and_doubles_nothing(sink: Settings, tmp_path: Path) -> None:
    path = tmp_path / "ncvoter.txt"
    path.write_text((DATA / "nc_voters.txt").read_text())
    first = load_voters(path, None, sink.kafka, preset="nc")
    assert first.sent == 5 and first.bisg_filled >= 2

    base = f"http://{sink.sink.query_host}:{sink.sink.query_port}"
    _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200, "the sink's /healthz")
    store = connect_store(sink)  # through the running sink: it owns the chDB directory
    assert isinstance(store, HttpSinkAccess)
    try:

        def one(sql: str) -> Any:
            return store.query(sql)[1][0][0]

        _wait(lambda: int(one("SELECT count() FROM voters")) == 5, "the first load")
        lines = path.read_text().splitlines(keepends=True)
        lines[1] = lines[1].replace("\t01-07\tPRECINCT 01-07\t", "\t09-99\tPRECINCT 09-99\t")
        lines[2] = lines[2].replace("\tB\tNL\t", "\tM\tNL\t")  # race re-designated
        path.write_text("".join(lines))
        reloaded_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        second = load_voters(path, None, sink.kafka, preset="nc")
        assert second.sent == 5

        # wait on the reload's rows, not on count() (a background merge may fold duplicates)
        latest = f"toDateTime64('{reloaded_at}', 3, 'UTC')"
        reloaded = f"SELECT count() FROM voters WHERE updated_at >= {latest}"
        _wait(lambda: int(one(reloaded)) == 5, "the reload")
        assert int(one("SELECT count() FROM voters FINAL")) == 5
        assert int(one("SELECT uniqExact(state, voter_id) FROM voters")) == 5
        rows = store.query(
            "SELECT voter_id, precinct, race, race_source FROM voters FINAL ORDER BY voter_id"
        )[1]
        got = {r[0]: tuple(r[1:]) for r in rows}
        assert got["AA100001"] == ("09-99", "white", "self_reported")
        assert got["AA100002"] == ("01-07", "multiracial", "self_reported")
        assert got["AA100004"] == ("01-07", "white", "self_reported")
        assert got["AA100003"][2] == "bisg"  # unchanged rows keep their values and sources
        # the reload's rows won, every one of them
        assert int(one(f"SELECT min(updated_at) >= {latest} FROM voters FINAL")) == 1
    finally:
        store.close()
