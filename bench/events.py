"""Synthetic voters and valid contact events for the benchmarks (not the demo: no bad events,
no retries, so every event sent must arrive)."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from core.config import OrgConfig, SourceConfig, write_programs, write_sources
from core.kafka import producer_config
from core.settings import Settings
from schemas import VOTER, AvroCodec
from schemas.ids import voter_key

ORG, CAMPAIGN, SOURCE = "bench-org", "bench-campaign", "bench-tool"
RESULTS = {
    "door": ["canvassed", "not_home", "not_home", "refused"],
    "phone": ["canvassed", "busy", "left_message", "wrong_number"],
    "text": ["canvassed", "texted", "texted"],
}


@dataclass
class BenchState:
    headers: dict[str, str]
    voter_ids: list[str]

    @classmethod
    def create(cls, settings: Settings, workdir: Path, n_voters: int = 5000) -> BenchState:
        secret = secrets.token_urlsafe(24)
        programs = workdir / "programs.yaml"
        sources = workdir / "sources.yaml"
        write_programs(programs, [OrgConfig(id=ORG, campaigns=[CAMPAIGN])])
        write_sources(
            sources,
            [SourceConfig.model_validate({"id": SOURCE, "org_id": ORG, "secrets": [secret]})],
        )
        settings.stream.programs_file = programs
        settings.gateway.sources_file = sources
        headers = {"X-Fieldstream-Source": SOURCE, "Authorization": f"Bearer {secret}"}
        return cls(headers, [f"B{i:07d}" for i in range(n_voters)])

    def load_voters(self, settings: Settings) -> None:
        codec = AvroCodec()
        rng = random.Random(1)
        producer = Producer(producer_config(settings.kafka))
        for i, vid in enumerate(self.voter_ids):
            voter = {
                "voter_id": vid,
                "state": "ZZ",
                "county": f"C{i % 5}",
                "precinct": f"P{i % 50:03d}",
                "age": rng.randint(18, 95),
                "sex": rng.choice(["female", "male"]),
                "race": rng.choice(["white", "black", "latino", "asian"]),
                "race_source": "self_reported",
                "updated_at": 0,
            }
            producer.produce(
                settings.kafka.topics.voters,
                key=voter_key("ZZ", vid).encode(),
                value=codec.encode(VOTER, voter),
            )
            producer.poll(0)
        if producer.flush(60):
            raise RuntimeError("voters were not all delivered")


def good_events(
    state: BenchState, rng: random.Random, n: int, now: dt.datetime, source_system: str
) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        channel = rng.choice(("door", "phone", "text"))
        result = rng.choice(RESULTS[channel])
        responses = (
            [{"question_id": "support", "answer": "yes", "support_level": rng.randint(1, 5)}]
            if result == "canvassed"
            else []
        )
        out.append(
            {
                "source_system": source_system,
                "source_event_id": f"{source_system}-{i}",
                "org_id": ORG,
                "campaign_id": CAMPAIGN,
                "channel": channel,
                "occurred_at": (now - dt.timedelta(seconds=rng.randint(0, 3600))).isoformat(),
                "person": {"voter_id": rng.choice(state.voter_ids), "state": "ZZ"},
                "result": result,
                "result_raw": result,
                "responses": responses,
                "canvasser_id": f"c{rng.randint(1, 40)}",
            }
        )
    return out


def encoded_contacts(
    state: BenchState, n: int, source_system: str, seed: int = 3
) -> list[tuple[bytes, bytes]]:
    """``n`` good events as the gateway puts them on contacts.raw: (event id, Avro bytes)."""
    # imported here: the other benchmarks that use this module do not need the codec
    from schemas import CONTACT_EVENT, AvroCodec
    from schemas.jsonconv import ContactJson

    now = dt.datetime.now(dt.UTC)
    converter, codec = ContactJson(), AvroCodec()
    received = int(now.timestamp() * 1000)
    out = []
    for event in good_events(state, random.Random(seed), n, now, source_system):
        record, problems = converter.convert(event, received)
        if record is None:
            raise SystemExit(f"bench event does not fit the standard: {problems}")
        out.append((str(record["event_id"]).encode(), codec.encode(CONTACT_EVENT, record)))
    return out
