"""The simulator's pure generator: shares, realism and canonical fields."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from pathlib import Path

from core.config import Programs
from producers.demo.simulator import generate_events, read_world
from producers.demo.state import generate_demo
from schemas.codec import CONTACT_EVENT, load_schemas
from schemas.jsonconv import ContactJson, Problems
from schemas.rules import RESULTS_BY_CHANNEL
from streams.logic.validate import validate

NOW = dt.datetime(2026, 10, 14, 18, 0, tzinfo=dt.UTC)
PROGRAMS = Programs(
    {
        "demo-org": frozenset({"gotv-2026", "persuasion-2026"}),
        "allies-org": frozenset({"allies-gotv"}),
    }
)
CONVERTER = ContactJson()


def event_to_record(event: dict, received_at: dt.datetime) -> tuple[dict | None, Problems]:
    """The gateway's conversion, with timestamps as the decoded datetimes the stream sees."""
    record, problems = CONVERTER.convert(event, int(received_at.timestamp() * 1000))
    if record is not None:
        for name in ("occurred_at", "received_at"):
            record[name] = dt.datetime.fromtimestamp(record[name] / 1000, dt.UTC)
    return record, problems


def _events(tmp_path: Path, n: int = 4000, **kw: float) -> list[tuple[dict, str]]:
    paths = generate_demo(tmp_path, today=NOW.date())
    rng = random.Random(3)
    world = read_world(paths.dir, rng)
    return generate_events(world.voters, rng, n, NOW, world=world, **kw)


def test_kind_shares(tmp_path: Path) -> None:
    events = _events(tmp_path, bad_share=0.05, duplicate_share=0.04)
    kinds = Counter(k.split(":")[0] for _, k in events)
    assert 0.03 < kinds["bad"] / len(events) < 0.06
    assert 0.005 < kinds["invalid"] / len(events) < 0.02
    assert 0.025 < kinds["duplicate"] / len(events) < 0.055
    reasons = {k for _, k in events if k.startswith("bad:")}
    assert reasons == {
        "bad:unknown_campaign",
        "bad:future_occurred_at",
        "bad:responses_without_contact",
        "bad:result_channel_mismatch",
    }


def test_good_events_are_canonical_and_pass_the_stream_rules(tmp_path: Path) -> None:
    schema = load_schemas()[CONTACT_EVENT]
    required = {f["name"] for f in schema["fields"] if "default" not in f}
    required -= {"event_id", "received_at"}
    events = _events(tmp_path, n=1500)
    for event, kind in events:
        if kind not in ("good", "duplicate"):
            continue
        assert "event_id" not in event and "received_at" not in event
        assert required <= set(event)
        assert event["occurred_at"].endswith("Z")
        json.dumps(event)
        assert event["result"] in RESULTS_BY_CHANNEL[event["channel"]]
        if event["responses"]:
            assert event["result"] == "canvassed"
    good = [e for e, k in events if k == "good"]
    assert len({e["source_event_id"] for e in good}) == len(good)


def test_bad_and_invalid_events_fail_where_they_should(tmp_path: Path) -> None:
    for event, kind in _events(tmp_path, n=3000, bad_share=0.1):
        if kind == "invalid":
            _, problems = event_to_record(event, received_at=NOW)
            assert problems, event
        elif kind.startswith("bad:"):
            record, problems = event_to_record(event, received_at=NOW)
            assert not problems
            assert record is not None
            rejection = validate(record, PROGRAMS, future_skew_s=300)
            assert rejection is not None and rejection[0] == kind[4:]
        elif kind == "good":
            record, problems = event_to_record(event, received_at=NOW)
            assert not problems and record is not None
            assert validate(record, PROGRAMS, future_skew_s=300) is None


def test_realistic_mix(tmp_path: Path) -> None:
    good = [e for e, k in _events(tmp_path) if k == "good"]
    channels = Counter(e["channel"] for e in good)
    assert channels["door"] > channels["phone"] > channels["text"] > 0
    doors = [e for e in good if e["channel"] == "door"]
    canvassed = [e for e in doors if e["result"] == "canvassed"]
    assert 0.2 < len(canvassed) / len(doors) < 0.4
    ids = [e for e in canvassed if any(r["support_level"] for r in e["responses"])]
    assert len(ids) / len(canvassed) > 0.7
    unmatched = [e for e in good if e["person"]["voter_id"][2] == "9"]
    assert 0.01 < len(unmatched) / len(good) < 0.06
    assert all(e["team_id"] and e["canvasser_id"] for e in good)
    assert all(e["turf_id"] for e in doors)
