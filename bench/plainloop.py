"""The stream stage's baseline for bench/stream.py: a plain confluent-kafka loop doing the stage's
work with the same :func:`streams.logic.process.process_batch`, the same context (voter
directory, programs, codec), the same batch size, and the same writes per batch: the outputs,
acked; then the seen marks on a changelog topic, acked; then the offsets committed.

    python -m bench.plainloop N  (settings from the FIELDSTREAM_* environment) -> one JSON line

It stops once N raw events were processed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from core.config import load_programs
from core.kafka import consumer_config, producer_config
from core.producer import KafkaWriter, Record
from core.settings import load_settings
from schemas.registry import codec_for
from streams.logic.dedupe import Dedupe
from streams.logic.process import DUPLICATE, ENRICHED, Context, now_ms, process_batch
from streams.voter_stores import MemoryVoterStore
from streams.voters import VoterDirectory


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def run(n: int) -> dict[str, float]:
    settings = load_settings()
    s, kafka = settings.stream, settings.kafka
    codec = codec_for(kafka.schema_registry_url)
    voters = VoterDirectory(
        {"bootstrap.servers": kafka.bootstrap_servers},
        kafka.topics.voters,
        codec,
        store=MemoryVoterStore(),
    )
    voters.start()
    voters.wait_caught_up(120)
    seen = Dedupe({}, s.dedupe_horizon_s)
    ctx = Context.build(
        codec=codec,
        programs=load_programs(s.programs_file),
        voter_bytes=voters.get_bytes,
        is_seen=seen.is_duplicate,
        future_skew_s=s.future_skew_s,
    )
    writer = KafkaWriter(producer_config(kafka))
    changelog = f"{s.app_id}-dedupe-changelog"
    consumer = Consumer(
        consumer_config(
            kafka,
            s.app_id,
            fetch_wait_ms=s.fetch_wait_ms,
            session_timeout_s=s.session_timeout_s,
        )
    )
    consumer.subscribe([kafka.topics.raw])
    t = kafka.topics
    done = 0
    cpu0 = cpu_seconds()
    deadline = time.monotonic() + 600
    while done < n and time.monotonic() < deadline:
        batch = consumer.consume(s.batch_max, 0.05)
        msgs: list[Any] = [
            (m.value(), m.key(), m.topic(), m.partition(), m.offset())
            for m in batch
            if m.error() is None
        ]
        if not msgs:
            continue
        now = now_ms()
        result = process_batch(msgs, ctx, now)
        outputs: list[Record] = [
            (t.enriched if o.kind == ENRICHED else t.dlq, None, o.key, o.value)
            for o in result.outcomes
            if o.kind != DUPLICATE
        ]
        writer.deliver_blocking(outputs)
        accepted = [
            (o.event_id, m[3])
            for o, m in zip(result.outcomes, msgs, strict=True)
            if o.kind == ENRICHED and o.event_id is not None
        ]
        stamp = str(now).encode()
        writer.deliver_blocking(
            [(changelog, p, json.dumps(eid).encode(), stamp) for eid, p in accepted]
        )
        for eid, _p in accepted:
            seen.mark_seen(eid, now)
        ends: dict[tuple[str, int], int] = {}
        for m in msgs:
            ends[(m[2], m[3])] = m[4] + 1
        consumer.commit(
            offsets=[TopicPartition(tp, p, o) for (tp, p), o in ends.items()], asynchronous=False
        )
        done += len(msgs)
    cpu = cpu_seconds() - cpu0
    consumer.close()
    writer.close()
    voters.stop()
    return {"events": done, "cpu_s": cpu}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]))))
